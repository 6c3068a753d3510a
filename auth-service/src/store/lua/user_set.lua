-- user_set: writes a user over the version the caller read and, when asked, ends every session of the
-- user (the cut-off moves as in revoke_user.lua). A cluster's step of user_update.lua: the indexes are
-- moved by the store around it, and the `sub` entry is owed (revoked.lua) in the same step, for the
-- store to append after it (see redis.rs). Needs now.lua, feed.lua, revoked.lua and cutoff.lua before
-- it.
-- KEYS[1]  record         (keys::user)
-- KEYS[2]  user's cut-off (keys::cutoff)
-- KEYS[3]  issue mark     (keys::issued)
-- KEYS[4]  owed entries   (keys::owed)
-- ARGV[1]  offset         test-only time offset (ms), 0 in production
-- ARGV[2]  uid
-- ARGV[3]  version        the version the caller read
-- ARGV[4]  end_sessions   how long the cut-off is remembered (ms); 0: sessions stay
-- ARGV[5]  life           the feed's life (ms)
-- ARGV[6..] field, value, ... of the record (without id and ver; with `nk` and `ek`, the new keys)
-- Returns {'updated', ver, cutoff or ''} | {'stale'} | {'missing'}.
local ver = redis.call('HGET', KEYS[1], 'ver')
if not ver then return {'missing'} end
if ver ~= ARGV[3] then return {'stale'} end
local fields = {}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
local new_ver = string.format('%d', tonumber(ver) + 1)
redis.call('HSET', KEYS[1], 'ver', new_ver, unpack(fields))
local cutoff = ''
if tonumber(ARGV[4]) > 0 then
  cutoff = cut_off(KEYS[2], KEYS[3], KEYS[4], true, ARGV[1], ARGV[2], ARGV[4], ARGV[5])
end
return {'updated', new_ver, cutoff}
