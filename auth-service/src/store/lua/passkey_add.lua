-- Adds a passkey to its user's hash, unless that credential id is there or the user holds the most
-- allowed. KEYS[1] the user's passkeys; ARGV[1] the credential id, ARGV[2] the record (JSON),
-- ARGV[3] the most passkeys a user may hold. 1 added, 0 the id is there, -1 full.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return 0
end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then
  return -1
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
