-- challenge_try: counts one attempt on a login challenge; the first attempt starts its lifetime.
-- KEYS[1]  challenge (keys::challenge)
-- ARGV[1]  max_tries
-- ARGV[2]  ttl_ms    the challenge's remaining life
-- Returns 'allowed' | 'exhausted' | 'used'.
local max_tries, ttl_ms = tonumber(ARGV[1]), ARGV[2]
if redis.call('HGET', KEYS[1], 'used') == '1' then return 'used' end
local n = redis.call('HINCRBY', KEYS[1], 'tries', 1)
if n == 1 then redis.call('PEXPIRE', KEYS[1], ttl_ms) end
if n > max_tries then return 'exhausted' end
return 'allowed'
