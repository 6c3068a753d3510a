-- user_find: a user through one of the uniqueness indexes.
-- KEYS[1]  index          (keys::users_by_username or keys::users_by_email)
-- ARGV[1]  key            the normalised username or e-mail
-- ARGV[2]  user key start (keys::user_affixes): the record's key is this, the id, then ARGV[3]
-- ARGV[3]  user key end
-- One Redis or Sentinel only: on a cluster the record is in its user's slot (the store reads the
-- index, then the record).
-- Returns the record's HGETALL (field, value, ...), empty when there is no such user.
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return {} end
return redis.call('HGETALL', ARGV[2] .. id .. ARGV[3])
