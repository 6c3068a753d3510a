-- challenge_finish: marks a challenge as having completed its login.
-- KEYS[1]  challenge (keys::challenge)
-- ARGV[1]  ttl_ms    how long the mark is kept
-- Returns 1 the first time, 0 if it already had.
local ttl_ms = ARGV[1]
if redis.call('HGET', KEYS[1], 'used') == '1' then return 0 end
redis.call('HSET', KEYS[1], 'used', '1')
redis.call('PEXPIRE', KEYS[1], ttl_ms)
return 1
