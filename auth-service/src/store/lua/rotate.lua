-- rotate: the atomic check-and-rotate of a refresh token, after counting the per-IP gate (if given)
-- exactly as gate.lua counts a hit counter. The session's user is read in the same step: gone,
-- disabled, or with another credential fingerprint than the session started with (a new password), the
-- session is revoked. A session it revokes (reuse, the user's state) gets a `sid` entry in the
-- revocation feed, or on a cluster (the feed and the gate counter are in slots of their own) to the
-- user's owed entries, which the store appends next (revoked.lua); the gate is then counted in a call
-- sent with this one. A rotation raises the user's issue mark (issued.lua).
-- Needs now.lua, counter.lua, feed.lua, revoked.lua and issued.lua before it.
-- Running it twice (a client library resending after a dropped connection) answers the same
-- generation: the second run finds its own successor current.
-- KEYS[1]  session         (keys::session)
-- KEYS[2]  user's cut-off  (keys::cutoff)
-- KEYS[3]  user            (keys::user)
-- KEYS[4]  issue mark      (keys::issued)
-- KEYS[5]  where revocations go: the feed (keys::revocation_feed), or on a cluster keys::owed
-- KEYS[6]  gate counter    (keys::rate_limit), optional, absent on a cluster
-- ARGV[1]  offset          test-only time offset (ms), 0 in production
-- ARGV[2]  uid
-- ARGV[3]  cluster         '1' when KEYS[5] is the owed entries
-- ARGV[4]  presented       the jti of the refresh token presented
-- ARGV[5]  grace_ms        0: a rotated token is never answered again
-- ARGV[6]  new_refresh     the successor's refresh jti
-- ARGV[7]  new_access      the successor's access jti
-- ARGV[8]  ttl_ms          the record's lifetime after a rotation
-- ARGV[9]  sid             the session's id, as the feed names it
-- ARGV[10] life            the feed's life (ms): the longest access-token life plus leeway
-- ARGV[11] gate_limit      only with KEYS[6]
-- ARGV[12] gate_window     (ms), only with KEYS[6]
-- Returns {'limited', ms} | {'rotated'|'replayed', started, issued, refresh, access, the user's VIEW_FIELDS...}
-- | {'reused'} | {'revoked'}; on a cluster followed by '~owed' when the user owes feed entries (this
-- revocation's, or an earlier one's not yet appended), for the store to append.
local offset, uid, presented, cluster = ARGV[1], ARGV[2], ARGV[4], ARGV[3] == '1'
local function reply(out)
  if cluster and redis.call('EXISTS', KEYS[5]) == 1 then out[#out + 1] = '~owed' end
  return out
end
local grace_ms, new_refresh, new_access, ttl_ms = tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8]
local sid, life = ARGV[9], tonumber(ARGV[10])
local now = now_ms(offset)
if KEYS[6] then
  local left = counter_hit(KEYS[6], tonumber(ARGV[11]), tonumber(ARGV[12]))
  if left then return {'limited', tostring(left)} end
end
local function revoke()
  redis.call('HSET', KEYS[1], 'rev', '1')
  record_revocation(KEYS[5], cluster, life, 'sid', sid, string.format('%d', tonumber(now) + life))
end
local s = redis.call('HMGET', KEYS[1], 'uid', 'fp', 'started', 'cur', 'cur_a', 'prev', 'rot', 'rev')
if not s[1] or s[1] ~= uid then return reply({'revoked'}) end
-- '2': revoked by a version that appended the entry in a second call and had not yet.
if s[8] == '2' then
  revoke()
  return reply({'revoked'})
end
if s[8] ~= '0' then return reply({'revoked'}) end
local cutoff = redis.call('GET', KEYS[2])
if cutoff and tonumber(s[3]) <= tonumber(cutoff) then return reply({'revoked'}) end
-- The user's fingerprint, then the fields redis.rs's VIEW_FIELDS names, in its order ('active' 9th):
-- one read serves the check and the answer.
local u = redis.call('HMGET', KEYS[3], 'fp', 'id', 'ver', 'username', 'email', 'rol', 'hash', 'vo', 'active',
  'config', 'reset')
if u[1] ~= s[2] or u[9] ~= '1' then
  revoke()
  return reply({'revoked'})
end
local function answer(kind, issued_at, refresh, access)
  local out = {kind, s[3], issued_at, refresh, access}
  -- Values only, '' for an absent field.
  for i = 2, 11 do out[#out + 1] = u[i] or '' end
  return reply(out)
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
  raise_issued(KEYS[4], issued(now), ttl_ms)
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
return reply({'reused'})
