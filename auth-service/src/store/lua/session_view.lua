-- session_view: whether a session (and, if given, one access token of it) is still good.
-- KEYS[1]  session            (keys::session)
-- KEYS[2]  user's cut-off     (keys::cutoff)
-- KEYS[3]  revoked access jti (keys::revoked_jti), optional: absent for a refresh token
-- ARGV[1]  uid
-- Returns {'active', fingerprint, current refresh jti} | {'revoked'}.
local uid = ARGV[1]
if KEYS[3] and redis.call('EXISTS', KEYS[3]) == 1 then return {'revoked'} end
local s = redis.call('HMGET', KEYS[1], 'uid', 'fp', 'started', 'cur', 'rev')
if not s[1] or s[5] == '1' or s[1] ~= uid then return {'revoked'} end
local cutoff = redis.call('GET', KEYS[2])
if cutoff and tonumber(s[3]) <= tonumber(cutoff) then return {'revoked'} end
return {'active', s[2], s[4]}
