-- revoke_session: marks a session revoked and, if given, revokes one access token of its user; the
-- feed gets a `sid` entry (when the session was live) and a `jti` entry (when a token is given).
-- Needs now.lua and feed.lua before it.
-- KEYS[1]  session            (keys::session)
-- KEYS[2]  revoked access jti (keys::revoked_jti; written only when ARGV[4] is not empty)
-- KEYS[3]  revocation feed    (keys::revocation_feed), absent on a cluster: the store appends the
--          entries itself after this script, then marks the session's entry written
--          (session_fed.lua); until then `rev` is '2', and a retry appends it again
-- ARGV[1]  offset             test-only time offset (ms), 0 in production
-- ARGV[2]  sid
-- ARGV[3]  life               the feed's life (ms): the longest access-token life plus leeway
-- ARGV[4]  jti                or '' for none
-- ARGV[5]  jti_ttl_ms         how long the access token stays revoked
-- Returns 1 when the session's `sid` entry is the store's to append (no feed key given, and the
-- session was live or its entry is not yet written), else 0.
local offset, sid, life = ARGV[1], ARGV[2], tonumber(ARGV[3])
local jti, feed = ARGV[4], KEYS[3]
local now = tonumber(now_ms(offset))
local rev = redis.call('HGET', KEYS[1], 'rev')
local owed = 0
if rev then
  if feed then
    redis.call('HSET', KEYS[1], 'rev', '1')
    if rev == '0' then feed_append(feed, life, 'sid', sid, string.format('%d', now + life)) end
  elseif rev == '0' or rev == '2' then
    redis.call('HSET', KEYS[1], 'rev', '2')
    owed = 1
  end
end
if jti ~= '' then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[5])
  if feed then feed_append(feed, life, 'jti', jti, string.format('%d', now + tonumber(ARGV[5]))) end
end
return owed
