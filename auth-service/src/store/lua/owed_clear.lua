-- owed_clear: forgets owed feed entries once the store has appended them (cluster only; see
-- revoked.lua), each only if it is still the value that was appended (a newer revocation of the same
-- thing stays owed).
-- KEYS[1]  owed entries (keys::owed)
-- ARGV     field, value, ... as read before the append
-- Returns how many entries are still owed.
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return redis.call('HLEN', KEYS[1])
