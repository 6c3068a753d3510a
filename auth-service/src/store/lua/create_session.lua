-- create_session: records a new session, started at Redis's now or just after the user's cut-off,
-- if the user, as stored at this instant, is active and still has the credential the login proved
-- (and, for a login finished by a second factor, had no session ended since: its cut-off is still the
-- one the challenge saw). So a
-- password change or a disable committed while the login's hash ran refuses the session, and one
-- committed after it ends the session through the cut-off. A session revoked before it started
-- (revoke_session.lua) is refused too. Needs now.lua and issued.lua before it.
-- KEYS[1]  session        (keys::session)
-- KEYS[2]  user's cut-off (keys::cutoff)
-- KEYS[3]  user           (keys::user)
-- KEYS[4]  issue mark     (keys::issued)
-- ARGV[1]  offset         test-only time offset (ms), 0 in production
-- ARGV[2]  uid
-- ARGV[3]  fingerprint    the credential fingerprint the login proved
-- ARGV[4]  refresh_jti
-- ARGV[5]  access_jti
-- ARGV[6]  ttl_ms         the record's lifetime
-- ARGV[7]  cutoff_seen    the cut-off the challenge saw ('0': none), or '' for no such condition
-- Returns {'started', started, now, the user's VIEW_FIELDS...} | {'refused'}.
local offset, uid, fingerprint = ARGV[1], ARGV[2], ARGV[3]
local refresh_jti, access_jti, ttl_ms, seen = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
-- The user's fingerprint, then the fields redis.rs's VIEW_FIELDS names, in its order ('active' 9th).
local u = redis.call('HMGET', KEYS[3], 'fp', 'id', 'ver', 'username', 'email', 'rol', 'hash', 'vo', 'active',
  'config', 'reset')
if u[1] ~= fingerprint or u[9] ~= '1' then return {'refused'} end
local now = now_ms(offset)
local started = now
local cutoff = redis.call('GET', KEYS[2])
if seen ~= '' and (cutoff or '0') ~= seen then return {'refused'} end
-- '0' is this session already started (a call repeated after a failover): it starts again as before.
if redis.call('HGET', KEYS[1], 'rev') == '1' then return {'refused'} end
if cutoff and tonumber(started) <= tonumber(cutoff) then started = string.format('%d', tonumber(cutoff) + 1) end
redis.call('HSET', KEYS[1], 'uid', uid, 'fp', fingerprint, 'started', started, 'cur', refresh_jti,
  'cur_a', access_jti, 'prev', '', 'rot', started, 'rev', '0')
redis.call('PEXPIRE', KEYS[1], ttl_ms)
raise_issued(KEYS[4], started, ttl_ms)
local out = {'started', started, now}
-- Values only, '' for an absent field.
for i = 2, 11 do out[#out + 1] = u[i] or '' end
return out
