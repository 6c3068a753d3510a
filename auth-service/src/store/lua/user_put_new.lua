-- user_put_new: writes a new user's record at its id, if the id is free (a cluster's first step of
-- creating a user: the record first, then the indexes that make it findable; see redis.rs).
-- KEYS[1]  record (keys::user)
-- ARGV[1]  id
-- ARGV[2..] field, value, ... of the record (without id and ver; with `nk` and `ek`)
-- Returns 1 when written, 0 when the id is taken.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local fields = {}
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'ver', '1', unpack(fields))
return 1
