-- users_release: removes index entries that still point at a user id (a cluster's clean-up after a
-- rename, or after a claim whose update did not happen; see redis.rs).
-- KEYS[1]  usernames      (keys::users_by_username)
-- KEYS[2]  e-mails        (keys::users_by_email)
-- ARGV[1]  id
-- ARGV[2]  username key, or '' to keep
-- ARGV[3]  e-mail key, or '' to keep
-- Returns 1.
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[1], ARGV[2]) end
if ARGV[3] ~= '' and redis.call('HGET', KEYS[2], ARGV[3]) == ARGV[1] then redis.call('HDEL', KEYS[2], ARGV[3]) end
return 1
