-- mfa_set_pending: stores a pending secret (replacing a pending one) unless MFA is already active.
-- KEYS[1]  MFA record     (keys::mfa)
-- KEYS[2]  pending secret (keys::mfa_pending)
-- ARGV[1]  sealed         the sealed secret
-- ARGV[2]  ttl_ms         how long it may wait for activation
-- Returns 1 if stored, 0 if MFA is active.
local sealed, ttl_ms = ARGV[1], ARGV[2]
if redis.call('HEXISTS', KEYS[1], 'active') == 1 then return 0 end
redis.call('SET', KEYS[2], sealed, 'PX', ttl_ms)
return 1
