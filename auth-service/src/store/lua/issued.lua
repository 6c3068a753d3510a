-- Fragment (prepended to create_session.lua and rotate.lua): defines `raise_issued`.
-- KEYS: none of its own; the caller passes the user's issue mark (keys::issued).
-- ARGV: none of its own.
-- The issue mark is the latest issue time (ms) of any token of the user still alive; a logout-all's
-- cut-off covers it (cutoff.lua), so tokens issued under a clock that has since stepped back are
-- ended too. Raised, never lowered; kept as long as the token issued at it may live.
local function raise_issued(key, at, ttl_ms)
  local mark = redis.call('GET', key)
  if not mark or tonumber(at) > tonumber(mark) then redis.call('SET', key, at, 'PX', ttl_ms) end
end
