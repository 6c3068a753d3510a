-- users_claim: points a username and an e-mail at a user id in the uniqueness indexes (a cluster's
-- step of creating or renaming a user; see redis.rs). An entry held by another id is taken, unless it
-- is the one the caller found stale (its user's record no longer claims it) and names in ARGV[4] or
-- ARGV[5]: then it is replaced, if it still holds that id.
-- KEYS[1]  usernames      (keys::users_by_username)
-- KEYS[2]  e-mails        (keys::users_by_email)
-- KEYS[3]  every id       (keys::user_ids)
-- KEYS[4]  last id        (keys::user_seq)
-- ARGV[1]  id
-- ARGV[2]  username key   normalised
-- ARGV[3]  e-mail key     normalised
-- ARGV[4]  stale username owner, or ''
-- ARGV[5]  stale e-mail owner, or ''
-- Returns {'claimed'} | {'taken', 'username'|'email', owner id}.
local id = ARGV[1]
local owner = redis.call('HGET', KEYS[1], ARGV[2])
if owner and owner ~= id and owner ~= ARGV[4] then return {'taken', 'username', owner} end
owner = redis.call('HGET', KEYS[2], ARGV[3])
if owner and owner ~= id and owner ~= ARGV[5] then return {'taken', 'email', owner} end
redis.call('HSET', KEYS[1], ARGV[2], id)
redis.call('HSET', KEYS[2], ARGV[3], id)
redis.call('ZADD', KEYS[3], tonumber(id), id)
if tonumber(redis.call('GET', KEYS[4]) or '0') < tonumber(id) then redis.call('SET', KEYS[4], id) end
return {'claimed'}
