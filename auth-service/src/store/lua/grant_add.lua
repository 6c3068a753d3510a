-- grant_add: adds a member to a set of ids, which then lives at least ttl_ms more.
-- KEYS[1]  the set (keys::grant_set)
-- ARGV[1]  member
-- ARGV[2]  ttl_ms
redis.call('SADD', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
