-- note_credentials: records a user's credential state as this replica read it from USERS_FILE at
-- start; when it differs from the state recorded before (the password changed, the user was disabled),
-- or the user is disabled and nothing was recorded, it ends every session of the user exactly as
-- revoke_user does, feed entry included. Needs now.lua, feed.lua and cutoff.lua before it.
-- KEYS[1]  credential record (keys::credentials), kept without TTL: one small key per configured user
-- KEYS[2]  user's cut-off    (keys::cutoff)
-- KEYS[3]  revocation feed   (keys::revocation_feed)
-- ARGV[1]  offset            test-only time offset (ms), 0 in production
-- ARGV[2]  uid
-- ARGV[3]  state             the credential fingerprint, prefixed with 'disabled:' for a disabled user
-- ARGV[4]  ttl_ms            how long a cut-off is remembered
-- ARGV[5]  life              the feed's life (ms)
-- Returns the cut-off set (ms, decimal string), or '' when nothing changed.
local uid, state = ARGV[2], ARGV[3]
local before = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], state)
if before == state then return '' end
if not before and string.sub(state, 1, 9) ~= 'disabled:' then return '' end
return cut_off(KEYS[2], KEYS[3], ARGV[1], uid, ARGV[4], ARGV[5])
