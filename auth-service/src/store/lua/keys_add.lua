-- keys_add: adds a signing key if the newest key of its algorithm is still the one the caller saw, so
-- two replicas rotating at once add one key, not two (the loser reads the keys again and finds the
-- winner's).
-- KEYS[1]  signing keys (keys::signing_keys): a hash of kid -> the key's record (JSON), and
--          '~newest:<alg>' -> the kid of the newest key of that algorithm
-- ARGV[1]  alg
-- ARGV[2]  kid of the newest key the caller saw, or '' for none
-- ARGV[3]  kid of the new key
-- ARGV[4]  its record
-- Returns 1 when added, 0 when another key was added first.
local newest = redis.call('HGET', KEYS[1], '~newest:' .. ARGV[1]) or ''
if newest ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4], '~newest:' .. ARGV[1], ARGV[3])
return 1
