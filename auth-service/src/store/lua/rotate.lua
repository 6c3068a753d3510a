-- rotate: the atomic check-and-rotate of a refresh token, after counting the per-IP gate (if given)
-- exactly as gate.lua counts a hit counter. The session's user is read in the same step: gone,
-- disabled, or with another credential fingerprint than the session started with (a new password), the
-- session is revoked. A session it revokes (reuse, the user's state) gets a `sid` entry in the
-- revocation feed. Needs now.lua, counter.lua and feed.lua before it.
-- On a cluster the feed and the gate counter are in slots of their own: the store passes neither,
-- counts the gate in a call sent with this one, and appends the feed entry itself when the reply ends
-- with 'sid': the session is revoked and its feed entry not yet known written (`rev` is '2' until the
-- store marks it '1' with session_fed.lua after appending; a retry appends again, which is harmless).
-- Running it twice (a client library resending after a dropped connection) answers the same
-- generation: the second run finds its own successor current.
-- KEYS[1]  session         (keys::session)
-- KEYS[2]  user's cut-off  (keys::cutoff)
-- KEYS[3]  user            (keys::user)
-- KEYS[4]  revocation feed (keys::revocation_feed), absent on a cluster
-- KEYS[5]  gate counter    (keys::rate_limit), optional, absent on a cluster
-- ARGV[1]  offset          test-only time offset (ms), 0 in production
-- ARGV[2]  uid
-- ARGV[3]  (unused)
-- ARGV[4]  presented       the jti of the refresh token presented
-- ARGV[5]  grace_ms        0: a rotated token is never answered again
-- ARGV[6]  new_refresh     the successor's refresh jti
-- ARGV[7]  new_access      the successor's access jti
-- ARGV[8]  ttl_ms          the record's lifetime after a rotation
-- ARGV[9]  sid             the session's id, as the feed names it
-- ARGV[10] life            the feed's life (ms): the longest access-token life plus leeway
-- ARGV[11] gate_limit      only with KEYS[5]
-- ARGV[12] gate_window     (ms), only with KEYS[5]
-- Returns {'limited', ms} | {'rotated'|'replayed', started, issued, refresh, access, the user's VIEW_FIELDS...}
-- | {'reused'} | {'revoked'}, each followed by 'sid' when the feed entry is the store's to append (see
-- above).
local offset, uid, presented = ARGV[1], ARGV[2], ARGV[4]
local grace_ms, new_refresh, new_access, ttl_ms = tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8]
local sid, life = ARGV[9], tonumber(ARGV[10])
local now = now_ms(offset)
if KEYS[5] then
  local left = counter_hit(KEYS[5], tonumber(ARGV[11]), tonumber(ARGV[12]))
  if left then return {'limited', tostring(left)} end
end
local function revoke()
  if KEYS[4] then
    redis.call('HSET', KEYS[1], 'rev', '1')
    feed_append(KEYS[4], life, 'sid', sid, string.format('%d', tonumber(now) + life))
  else
    redis.call('HSET', KEYS[1], 'rev', '2')
  end
end
local s = redis.call('HMGET', KEYS[1], 'uid', 'fp', 'started', 'cur', 'cur_a', 'prev', 'rot', 'rev')
if not s[1] or s[1] ~= uid then return {'revoked'} end
if s[8] == '2' then return {'revoked', 'sid'} end
if s[8] ~= '0' then return {'revoked'} end
local cutoff = redis.call('GET', KEYS[2])
if cutoff and tonumber(s[3]) <= tonumber(cutoff) then return {'revoked'} end
-- The user's fingerprint, then the fields redis.rs's VIEW_FIELDS names, in its order ('active' 9th):
-- one read serves the check and the answer.
local u = redis.call('HMGET', KEYS[3], 'fp', 'id', 'ver', 'username', 'email', 'rol', 'hash', 'vo', 'active',
  'config', 'reset')
if u[1] ~= s[2] or u[9] ~= '1' then
  revoke()
  if KEYS[4] then return {'revoked'} end
  return {'revoked', 'sid'}
end
local function answer(kind, issued_at, refresh, access)
  local out = {kind, s[3], issued_at, refresh, access}
  -- Values only, '' for an absent field.
  for i = 2, 11 do out[#out + 1] = u[i] or '' end
  return out
end
-- A session started just after a cut-off may start a little ahead of now (create_session.lua): its
-- pairs are never issued before its start, so their `iat` stays past the cut-off. The grace counts
-- from the rotation itself.
local function issued(rot)
  if tonumber(rot) < tonumber(s[3]) then return s[3] end
  return rot
end
if presented == s[4] then
  redis.call('HSET', KEYS[1], 'prev', s[4], 'cur', new_refresh, 'cur_a', new_access, 'rot', now)
  redis.call('PEXPIRE', KEYS[1], ttl_ms)
  return answer('rotated', issued(now), new_refresh, new_access)
end
if presented == s[6] and new_refresh == s[4] then
  -- This very rotation, run again: answer what it answered.
  return answer('rotated', issued(s[7]), s[4], s[5])
end
if s[6] ~= '' and presented == s[6] and grace_ms > 0 and tonumber(now) - tonumber(s[7]) <= grace_ms then
  return answer('replayed', issued(s[7]), s[4], s[5])
end
revoke()
if KEYS[4] then return {'reused'} end
return {'reused', 'sid'}
