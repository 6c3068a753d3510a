-- Compare-and-set of one passkey record. KEYS[1] the user's passkeys; ARGV[1] the credential id,
-- ARGV[2] the record as read (JSON), ARGV[3] its replacement. 1 replaced, 0 it changed or is gone.
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
