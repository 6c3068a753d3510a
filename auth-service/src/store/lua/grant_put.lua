-- grant_put: keeps an OpenID Provider record, unredeemed, for its life.
-- KEYS[1]  the grant (keys::grant)
-- ARGV[1]  value
-- ARGV[2]  ttl_ms
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'n', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
