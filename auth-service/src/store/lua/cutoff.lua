-- Fragment (prepended to revoke_user.lua, user_update.lua and user_set.lua): defines `cut_off`. Needs
-- now.lua, feed.lua and revoked.lua before it.
-- KEYS: none of its own; ARGV: none of its own. The caller passes the cut-off key (keys::cutoff), the
-- user's issue mark (keys::issued), where the revocation goes (see revoked.lua: the feed, or on a
-- cluster the user's owed entries), the test-only time offset, the user id, how long the cut-off is
-- remembered (ms) and the feed's `life` (ms).
-- Moves the user's cut-off to the last millisecond of the second of the later of Redis's now and the
-- user's issue mark: every token issued so far carries an `iat` (whole seconds) at or before it, even
-- one issued under a clock that was ahead (a failover to a primary whose clock is behind, an NTP step
-- back). It never moves back, and forward only as far as that: two logout-alls in one second with no
-- login between them end the same sessions at the same cut-off, and a session started after an earlier
-- cut-off in the same second (it starts at the next second, create_session.lua) raised the mark, so
-- it is covered. Appends or owes a `sub` entry. Returns the cut-off in force (ms, decimal string).
local function cut_off(cutoff_key, issued_key, target, cluster, offset, uid, ttl_ms, life)
  local now = tonumber(now_ms(offset))
  local from = now
  local mark = redis.call('GET', issued_key)
  if mark and tonumber(mark) > from then from = tonumber(mark) end
  local at = math.floor(from / 1000) * 1000 + 999
  local current = redis.call('GET', cutoff_key)
  if current and tonumber(current) > at then at = tonumber(current) end
  at = string.format('%d', at)
  redis.call('SET', cutoff_key, at, 'PX', ttl_ms)
  record_revocation(target, cluster, tonumber(life), 'sub', uid, string.format('%d', now + tonumber(life)), at)
  return at
end
