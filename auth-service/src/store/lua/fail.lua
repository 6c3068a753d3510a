-- fail: one failure on each counter; a counter's window starts with its first failure.
-- KEYS[i]  failure counter i
-- ARGV[i]  counter i's window (ms)
-- Returns the largest count after this failure.
local most = 0
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 or redis.call('PTTL', key) < 0 then
    redis.call('PEXPIRE', key, ARGV[i])
  end
  if n > most then most = n end
end
return most
