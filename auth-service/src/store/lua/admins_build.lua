-- admins_build: builds the set of active admins from the user records, once (a store written by a
-- version before the set existed). One Redis or Sentinel: every record in one script, so it is exact;
-- on a cluster the store adds them in steps (redis.rs).
-- KEYS[1]  every id           (keys::user_ids)
-- KEYS[2]  active admins      (keys::admins)
-- KEYS[3]  built marker       (keys::admins_built)
-- ARGV[1]  user key start     (keys::user_affixes)
-- ARGV[2]  user key end
-- Returns how many admins the set holds.
if redis.call('EXISTS', KEYS[3]) == 1 then return redis.call('SCARD', KEYS[2]) end
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local u = redis.call('HMGET', ARGV[1] .. id .. ARGV[2], 'rol', 'active')
  if u[1] == 'admin' and u[2] == '1' then redis.call('SADD', KEYS[2], id) end
end
redis.call('SET', KEYS[3], '1')
return redis.call('SCARD', KEYS[2])
