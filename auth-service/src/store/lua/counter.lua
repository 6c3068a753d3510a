-- Fragment (prepended to gate.lua and rotate.lua, so both count a rate-limit counter the same way):
-- defines `window_left`, `counter_hit` and `counter_locked`.
-- KEYS: none of its own; ARGV: none of its own. Each function takes the counter's key, its limit and its
-- window (ms) from the caller.

-- The ms left in a counter's window; a counter without a TTL (it should not happen) gets its window
-- again, so an over-limit counter never stays over forever.
local function window_left(key, window)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, window)
    ttl = window
  end
  return ttl
end

-- Counts one hit; the first hit starts the window. Returns the ms left when past `limit`, else nil.
local function counter_hit(key, limit, window)
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('PEXPIRE', key, window) end
  if n > limit then return window_left(key, window) end
  return nil
end

-- Reads a counter without counting. Returns the ms left when at `limit` or more, else nil.
local function counter_locked(key, limit, window)
  if tonumber(redis.call('GET', key) or '0') >= limit then return window_left(key, window) end
  return nil
end
