-- Fragment (prepended to revoke_user.lua and note_credentials.lua): defines `cut_off`. Needs now.lua
-- and feed.lua before it.
-- KEYS: none of its own; ARGV: none of its own. The caller passes the cut-off key (keys::cutoff), the
-- feed key (keys::revocation_feed), the test-only time offset, the user id, how long the cut-off is
-- remembered (ms) and the feed's `life` (ms).
-- Moves the user's cut-off to the end of Redis's current second (never back), so that a token's
-- `iat`, which is in whole seconds, tells exactly whether it was issued at or before the cut-off, and
-- appends a `sub` entry to the feed. Returns the cut-off in force (ms, decimal string).
local function cut_off(cutoff_key, feed_key, offset, uid, ttl_ms, life)
  local now = tonumber(now_ms(offset))
  local at = string.format('%d', math.floor(now / 1000) * 1000 + 999)
  local current = redis.call('GET', cutoff_key)
  if current and tonumber(current) > tonumber(at) then at = current end
  redis.call('SET', cutoff_key, at, 'PX', ttl_ms)
  feed_append(feed_key, life, 'sub', uid, string.format('%d', now + tonumber(life)), at)
  return at
end
