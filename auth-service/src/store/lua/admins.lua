-- Fragment (prepended to user_create.lua and user_update.lua): defines `admin_change`.
-- KEYS: none of its own; the caller passes the set of active admins (keys::admins).
-- ARGV: none of its own.
-- There is always at least one active admin. The set holds the ids of the active admins (built once
-- from the records by admins_build.lua); a write that turns an active admin into anything else (another
-- role, disabled) is refused when that admin is the last one, in the same atomic step as the write.
-- `was` and `will` say whether the user is an active admin before and after the write. Returns false
-- when the write must be refused, else true (the set then reflects the write).
local function admin_change(admins, uid, was, will)
  if was and not will then
    if redis.call('SISMEMBER', admins, uid) == 1 and redis.call('SCARD', admins) <= 1 then return false end
    redis.call('SREM', admins, uid)
  elseif will then
    redis.call('SADD', admins, uid)
  end
  return true
end
