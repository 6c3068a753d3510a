-- user_get: one user's record, as a flat array (a plain HGETALL answers a map in RESP3).
-- KEYS[1]  record (keys::user)
-- ARGV: none.
-- Returns the record's HGETALL (field, value, ...), empty when there is no such user.
return redis.call('HGETALL', KEYS[1])
