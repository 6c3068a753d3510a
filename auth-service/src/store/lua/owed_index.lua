-- owed_index: the index of users who may owe feed entries (cluster only), which the sweeper reads so
-- that an entry whose append failed (or whose writer died) still reaches the feed.
-- Needs now.lua before it.
-- KEYS[1]  the index (keys::owed_index): a sorted set of user ids scored by when they were added
-- ARGV[1]  'add' | 'due' | 'done'
-- ARGV[2]  'add', 'done': the uid; 'due': how old an entry must be (ms)
-- ARGV[3]  'add', 'due': the test-only time offset (ms); 'done': the score the sweeper read
-- ARGV[4]  'due': at most this many
-- 'add' scores the user with Redis's now and returns 1; 'due' returns {uid, score, ...} of the users
-- added at least ARGV[2] ms ago, oldest first; 'done' removes the user if the score is still the one
-- read (a user added again since stays) and returns 1 if it did.
if ARGV[1] == 'due' then
  local before = tonumber(now_ms(ARGV[3])) - tonumber(ARGV[2])
  return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', before), 'WITHSCORES', 'LIMIT', 0,
    tonumber(ARGV[4]))
end
if ARGV[1] == 'add' then
  redis.call('ZADD', KEYS[1], now_ms(ARGV[3]), ARGV[2])
  return 1
end
if redis.call('ZSCORE', KEYS[1], ARGV[2]) == ARGV[3] then
  redis.call('ZREM', KEYS[1], ARGV[2])
  return 1
end
return 0
