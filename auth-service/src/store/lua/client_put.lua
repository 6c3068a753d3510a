-- client_put: writes an OAuth client's record over the version the caller read (0: none stored yet),
-- so two admins changing one client at once, or two creating one id, leave one write standing.
-- KEYS[1]  the clients (keys::oauth_clients): client_id -> record (JSON), '~v:' .. client_id -> version
-- ARGV[1]  client_id
-- ARGV[2]  the version the caller read (0 for a create)
-- ARGV[3]  the record, its version already ARGV[2] + 1
-- Returns the new version, or 0 when the stored version is another.
local stored = tonumber(redis.call('HGET', KEYS[1], '~v:' .. ARGV[1]) or '0')
if stored ~= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3], '~v:' .. ARGV[1], stored + 1)
return stored + 1
