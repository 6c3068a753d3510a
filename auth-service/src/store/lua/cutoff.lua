-- Fragment (prepended to revoke_user.lua and user_update.lua): defines `cut_off`. Needs now.lua
-- and feed.lua before it.
-- KEYS: none of its own; ARGV: none of its own. The caller passes the cut-off key (keys::cutoff), the
-- feed key (keys::revocation_feed; nil on a cluster, where the store appends the entry itself), the test-only time offset, the user id, how long the cut-off is
-- remembered (ms) and the feed's `life` (ms).
-- Moves the user's cut-off to the end of Redis's current second, so that a token's `iat`, which is in
-- whole seconds, tells exactly whether it was issued at or before the cut-off, and appends a `sub`
-- entry to the feed. A session started after an earlier cut-off in that same second started at the
-- next second (create_session.lua), so the cut-off then moves to the end of that next second: every
-- session that exists is ended, and the cut-off never moves back. Returns the cut-off in force (ms,
-- decimal string).
local function cut_off(cutoff_key, feed_key, offset, uid, ttl_ms, life)
  local now = tonumber(now_ms(offset))
  local from = now
  local current = redis.call('GET', cutoff_key)
  if current and tonumber(current) + 1 > from then from = tonumber(current) + 1 end
  local at = string.format('%d', math.floor(from / 1000) * 1000 + 999)
  redis.call('SET', cutoff_key, at, 'PX', ttl_ms)
  if feed_key then
    feed_append(feed_key, life, 'sub', uid, string.format('%d', now + tonumber(life)), at)
  end
  return at
end
