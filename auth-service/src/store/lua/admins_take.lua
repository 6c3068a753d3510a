-- admins_take: on a cluster, the first step of a write that turns an active admin into anything else:
-- takes the user out of the set of active admins unless it is the last one (then nothing changes).
-- The record is written next; should that write not happen, the store puts the user back.
-- Needs admins.lua before it.
-- KEYS[1]  active admins (keys::admins)
-- ARGV[1]  uid
-- ARGV[2]  'take' | 'put' (back, or a user who became an active admin)
-- Returns 1, or 0 when the user is the last active admin.
if ARGV[2] == 'put' then
  redis.call('SADD', KEYS[1], ARGV[1])
  return 1
end
if admin_change(KEYS[1], ARGV[1], true, false) then return 1 end
return 0
