-- session_fed: on a cluster, marks a revoked session's feed entry written (`rev` '2' -> '1'), so
-- later attempts on it do not append it again (see revoke_session.lua and rotate.lua).
-- KEYS[1]  session (keys::session)
-- ARGV: none.
-- Returns 1.
if redis.call('HGET', KEYS[1], 'rev') == '2' then redis.call('HSET', KEYS[1], 'rev', '1') end
return 1
