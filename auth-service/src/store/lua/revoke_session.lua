-- revoke_session: marks a session revoked and, if given, revokes one access token.
-- KEYS[1]  session            (keys::session)
-- KEYS[2]  revoked access jti (keys::revoked_jti), optional
-- ARGV[1]  jti_ttl_ms         how long the access token stays revoked, only with KEYS[2]
-- Returns 1.
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'rev', '1') end
if KEYS[2] then redis.call('SET', KEYS[2], '1', 'PX', ARGV[1]) end
return 1
