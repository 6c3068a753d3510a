-- Removes a user's passkey, keeping the last one if asked: the count and the removal in one step, so
-- two removals at once cannot each see the other's passkey as the one that stays. KEYS[1] the user's
-- passkeys hash; ARGV[1] the credential id; ARGV[2] '1' to keep the last passkey.
-- 1 removed, 0 not there, -1 kept (the last one).
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return 0
end
if ARGV[2] == '1' and redis.call('HLEN', KEYS[1]) <= 1 then
  return -1
end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
