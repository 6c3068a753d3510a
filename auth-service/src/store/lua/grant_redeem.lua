-- grant_redeem: counts one redemption of a single-use record (an authorization code).
-- KEYS[1]  the grant (keys::grant)
-- Returns {} when there is none, else {n, value}: n = 1 the first time, more on a replay.
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return {} end
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
return {n, v}
