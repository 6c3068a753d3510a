-- mfa_activate: activates the pending secret if it is still the pending one and the step is later than
-- any accepted before; replaces the recovery codes.
-- KEYS[1]  MFA record     (keys::mfa)
-- KEYS[2]  pending secret (keys::mfa_pending)
-- KEYS[3]  recovery codes (keys::mfa_recovery)
-- ARGV[1]  sealed         the sealed secret being activated
-- ARGV[2]  step           the TOTP step that proved it
-- ARGV[3..] recovery-code hashes
-- Returns 1 if activated, 0 if anything changed meanwhile.
local sealed, step = ARGV[1], tonumber(ARGV[2])
if redis.call('HEXISTS', KEYS[1], 'active') == 1 then return 0 end
if redis.call('GET', KEYS[2]) ~= sealed then return 0 end
local last = redis.call('HGET', KEYS[1], 'last')
if last and step <= tonumber(last) then return 0 end
redis.call('HSET', KEYS[1], 'active', sealed, 'last', ARGV[2])
redis.call('DEL', KEYS[2], KEYS[3])
for i = 3, #ARGV do redis.call('SADD', KEYS[3], ARGV[i]) end
return 1
