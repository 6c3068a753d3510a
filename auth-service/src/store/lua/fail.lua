-- fail: one failure on each counter; a counter's window starts with its first failure.
-- KEYS[i]  failure counter i
-- ARGV[i]  counter i's window (ms)
-- Returns 1.
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 or redis.call('PTTL', key) < 0 then
    redis.call('PEXPIRE', key, ARGV[i])
  end
end
return 1
