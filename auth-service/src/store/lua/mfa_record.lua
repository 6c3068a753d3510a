-- mfa_record: a user's MFA enrolment.
-- KEYS[1]  MFA record     (keys::mfa)
-- KEYS[2]  pending secret (keys::mfa_pending)
-- ARGV: none.
-- Returns {active sealed secret or '', pending sealed secret or ''}.
return {redis.call('HGET', KEYS[1], 'active') or '', redis.call('GET', KEYS[2]) or ''}
