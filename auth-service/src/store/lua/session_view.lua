-- session_view: whether a session (and, if given, one access token of it) is still good, and its user
-- with it: gone, disabled, or with another credential fingerprint than the session started with, the
-- session is not good.
-- KEYS[1]  session            (keys::session)
-- KEYS[2]  user's cut-off     (keys::cutoff)
-- KEYS[3]  user               (keys::user)
-- KEYS[4]  revoked access jti (keys::revoked_jti), optional: absent for a refresh token
-- KEYS[n]  (last) on a cluster: the user's owed entries (keys::owed)
-- ARGV[1]  uid
-- ARGV[2]  cluster            '1' when the last key is the owed entries
-- Returns {'active', current refresh jti, the user's VIEW_FIELDS...} | {'revoked'}; on a cluster followed
-- by '~owed' when the user owes feed entries not yet appended (the store appends them).
local uid, n = ARGV[1], #KEYS
local owed_key
if ARGV[2] == '1' then
  owed_key = KEYS[n]
  n = n - 1
end
local function reply(out)
  if owed_key and redis.call('EXISTS', owed_key) == 1 then out[#out + 1] = '~owed' end
  return out
end
if n >= 4 and redis.call('EXISTS', KEYS[4]) == 1 then return reply({'revoked'}) end
local s = redis.call('HMGET', KEYS[1], 'uid', 'fp', 'started', 'cur', 'rev')
if not s[1] or s[5] ~= '0' or s[1] ~= uid then return reply({'revoked'}) end
local cutoff = redis.call('GET', KEYS[2])
if cutoff and tonumber(s[3]) <= tonumber(cutoff) then return reply({'revoked'}) end
-- The user's fingerprint, then the fields redis.rs's VIEW_FIELDS names, in its order ('active' 9th):
-- one read serves the check and the answer.
local u = redis.call('HMGET', KEYS[3], 'fp', 'id', 'ver', 'username', 'email', 'rol', 'hash', 'vo', 'active',
  'config', 'reset')
if u[1] ~= s[2] or u[9] ~= '1' then return reply({'revoked'}) end
local out = {'active', s[4]}
-- Values only, '' for an absent field.
for i = 2, 11 do out[#out + 1] = u[i] or '' end
return reply(out)
