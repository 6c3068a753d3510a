-- users_after: a page of users by id.
-- KEYS[1]  every id       (keys::user_ids)
-- ARGV[1]  after          ids above this one
-- ARGV[2]  limit
-- ARGV[3]  user key start (keys::user_affixes)
-- ARGV[4]  user key end
-- One Redis or Sentinel only (see user_find.lua).
-- Returns one HGETALL (field, value, ...) per user, in id order.
local ids = redis.call('ZRANGE', KEYS[1], '(' .. ARGV[1], '+inf', 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  out[#out + 1] = redis.call('HGETALL', ARGV[3] .. id .. ARGV[4])
end
return out
