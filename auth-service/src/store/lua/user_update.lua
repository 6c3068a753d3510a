-- user_update: writes a user over the version the caller read, moving the uniqueness indexes when the
-- username or e-mail changes, and, when asked, ends every session of the user as revoke_user does
-- (cut-off and feed entry) in the same step, keeping the set of active admins (a write that would leave
-- none is refused). Needs now.lua, feed.lua, revoked.lua, cutoff.lua and admins.lua before it.
-- KEYS[1]  record         (keys::user)
-- KEYS[2]  usernames      (keys::users_by_username)
-- KEYS[3]  e-mails        (keys::users_by_email)
-- KEYS[4]  user's cut-off (keys::cutoff)
-- KEYS[5]  revocation feed (keys::revocation_feed)
-- KEYS[6]  issue mark     (keys::issued)
-- KEYS[7]  active admins  (keys::admins)
-- ARGV[1]  offset         test-only time offset (ms), 0 in production
-- ARGV[2]  uid
-- ARGV[3]  version        the version the caller read
-- ARGV[4]  username key   normalised, new or unchanged
-- ARGV[5]  e-mail key     normalised, new or unchanged
-- ARGV[6]  end_sessions   how long the cut-off is remembered (ms); 0: sessions stay
-- ARGV[7]  life           the feed's life (ms)
-- ARGV[8..] field, value, ... of the record (without id and ver; with `nk` and `ek`, the new keys)
-- Returns {'updated', ver, cutoff or ''} | {'stale'} | {'missing'} | {'taken', 'username'|'email'}
-- | {'last_admin'}.
-- One Redis or Sentinel only: on a cluster the store updates a user in steps (redis.rs).
local uid, name_key, email_key = ARGV[2], ARGV[4], ARGV[5]
local stored = redis.call('HMGET', KEYS[1], 'ver', 'nk', 'ek', 'rol', 'active')
local ver, old_name, old_email = stored[1], stored[2], stored[3]
if not ver then return {'missing'} end
if ver ~= ARGV[3] then return {'stale'} end
local owner = redis.call('HGET', KEYS[2], name_key)
if owner and owner ~= uid then return {'taken', 'username'} end
owner = redis.call('HGET', KEYS[3], email_key)
if owner and owner ~= uid then return {'taken', 'email'} end
local fields = {}
local new = {}
for i = 8, #ARGV, 2 do
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = ARGV[i + 1]
  new[ARGV[i]] = ARGV[i + 1]
end
local was = stored[4] == 'admin' and stored[5] == '1'
local will = new['rol'] == 'admin' and new['active'] == '1'
if not admin_change(KEYS[7], uid, was, will) then return {'last_admin'} end
if old_name ~= name_key then
  redis.call('HDEL', KEYS[2], old_name)
  redis.call('HSET', KEYS[2], name_key, uid)
end
if old_email ~= email_key then
  redis.call('HDEL', KEYS[3], old_email)
  redis.call('HSET', KEYS[3], email_key, uid)
end
local new_ver = string.format('%d', tonumber(ver) + 1)
redis.call('HSET', KEYS[1], 'ver', new_ver, unpack(fields))
local cutoff = ''
if tonumber(ARGV[6]) > 0 then
  cutoff = cut_off(KEYS[4], KEYS[6], KEYS[5], false, ARGV[1], uid, ARGV[6], ARGV[7])
end
return {'updated', new_ver, cutoff}
