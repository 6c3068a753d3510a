-- create_session: records a new session, started at Redis's now or just after the user's cut-off.
-- Needs now.lua before it.
-- KEYS[1]  session        (keys::session)
-- KEYS[2]  user's cut-off (keys::cutoff)
-- ARGV[1]  offset         test-only time offset (ms), 0 in production
-- ARGV[2]  uid
-- ARGV[3]  fingerprint    the user's credential fingerprint at login
-- ARGV[4]  refresh_jti
-- ARGV[5]  access_jti
-- ARGV[6]  ttl_ms         the record's lifetime
-- Returns the session's start (ms, decimal string).
local offset, uid, fingerprint = ARGV[1], ARGV[2], ARGV[3]
local refresh_jti, access_jti, ttl_ms = ARGV[4], ARGV[5], ARGV[6]
local started = now_ms(offset)
local cutoff = redis.call('GET', KEYS[2])
if cutoff and tonumber(started) <= tonumber(cutoff) then started = string.format('%d', tonumber(cutoff) + 1) end
redis.call('HSET', KEYS[1], 'uid', uid, 'fp', fingerprint, 'started', started, 'cur', refresh_jti,
  'cur_a', access_jti, 'prev', '', 'rot', started, 'rev', '0')
redis.call('PEXPIRE', KEYS[1], ttl_ms)
return started
