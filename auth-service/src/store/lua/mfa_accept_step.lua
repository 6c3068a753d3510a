-- mfa_accept_step: accepts a TOTP step if MFA is active and the step is later than the last accepted.
-- KEYS[1]  MFA record (keys::mfa)
-- ARGV[1]  step
-- Returns 1 if accepted, else 0.
local step = tonumber(ARGV[1])
if redis.call('HEXISTS', KEYS[1], 'active') == 0 then return 0 end
local last = redis.call('HGET', KEYS[1], 'last')
if last and step <= tonumber(last) then return 0 end
redis.call('HSET', KEYS[1], 'last', ARGV[1])
return 1
