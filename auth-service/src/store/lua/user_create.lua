-- user_create: a new user, its id, username and e-mail checked free in the same step.
-- KEYS[1]  usernames      (keys::users_by_username)
-- KEYS[2]  e-mails        (keys::users_by_email)
-- KEYS[3]  every id       (keys::user_ids)
-- KEYS[4]  last id        (keys::user_seq)
-- KEYS[5]  active admins  (keys::admins)
-- ARGV[1]  user key start (keys::user_affixes): a record's key is this, the id, then ARGV[5]
-- ARGV[2]  username key   normalised
-- ARGV[3]  e-mail key     normalised
-- ARGV[4]  id             0: the next free one
-- ARGV[5]  user key end
-- ARGV[6..] field, value, ... of the record (without id and ver; with `nk` and `ek`, the two keys)
-- Returns {'created', id} | {'taken', 'id'|'username'|'email'}.
-- One Redis or Sentinel only: on a cluster the store creates a user in steps (redis.rs).
-- Needs admins.lua before it.
local prefix, name_key, email_key, id, suffix = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
if redis.call('HEXISTS', KEYS[1], name_key) == 1 then return {'taken', 'username'} end
if redis.call('HEXISTS', KEYS[2], email_key) == 1 then return {'taken', 'email'} end
if id == 0 then
  repeat
    id = redis.call('INCR', KEYS[4])
  until redis.call('EXISTS', prefix .. id .. suffix) == 0
else
  if redis.call('EXISTS', prefix .. id .. suffix) == 1 then return {'taken', 'id'} end
  local seq = tonumber(redis.call('GET', KEYS[4]) or '0')
  if id > seq then redis.call('SET', KEYS[4], string.format('%d', id)) end
end
local sid = string.format('%d', id)
local fields = {}
local new = {}
for i = 6, #ARGV, 2 do
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = ARGV[i + 1]
  new[ARGV[i]] = ARGV[i + 1]
end
redis.call('HSET', prefix .. sid .. suffix, 'id', sid, 'ver', '1', unpack(fields))
redis.call('HSET', KEYS[1], name_key, sid)
redis.call('HSET', KEYS[2], email_key, sid)
redis.call('ZADD', KEYS[3], id, sid)
admin_change(KEYS[5], sid, false, new['rol'] == 'admin' and new['active'] == '1')
return {'created', sid}
