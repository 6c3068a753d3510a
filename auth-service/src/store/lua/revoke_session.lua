-- revoke_session: marks a session revoked and, if given, revokes one access token; the feed gets a
-- `sid` entry (when the session was live) and a `jti` entry (when a token is given).
-- Needs now.lua and feed.lua before it.
-- KEYS[1]  session            (keys::session)
-- KEYS[2]  revocation feed    (keys::revocation_feed)
-- KEYS[3]  revoked access jti (keys::revoked_jti), optional
-- ARGV[1]  offset             test-only time offset (ms), 0 in production
-- ARGV[2]  sid
-- ARGV[3]  life               the feed's life (ms): the longest access-token life plus leeway
-- ARGV[4]  jti                only with KEYS[3]
-- ARGV[5]  jti_ttl_ms         how long the access token stays revoked, only with KEYS[3]
-- Returns 1.
local offset, sid, life = ARGV[1], ARGV[2], tonumber(ARGV[3])
local now = tonumber(now_ms(offset))
local rev = redis.call('HGET', KEYS[1], 'rev')
if rev then
  redis.call('HSET', KEYS[1], 'rev', '1')
  if rev ~= '1' then feed_append(KEYS[2], life, 'sid', sid, string.format('%d', now + life)) end
end
if KEYS[3] then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[5])
  feed_append(KEYS[2], life, 'jti', ARGV[4], string.format('%d', now + tonumber(ARGV[5])))
end
return 1
