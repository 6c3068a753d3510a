-- revoke_user: moves a user's logout-all cut-off to Redis's now, never back. Needs now.lua before it.
-- KEYS[1]  user's cut-off (keys::cutoff)
-- ARGV[1]  offset         test-only time offset (ms), 0 in production
-- ARGV[2]  ttl_ms         how long the cut-off is remembered
-- Returns the cut-off in force (ms, decimal string).
local offset, ttl_ms = ARGV[1], ARGV[2]
local at = now_ms(offset)
local current = redis.call('GET', KEYS[1])
if current and tonumber(current) > tonumber(at) then at = current end
redis.call('SET', KEYS[1], at, 'PX', ttl_ms)
return at
