-- gate: counts one hit on each hit counter, then checks each lock counter without counting; stops at
-- the first one over its limit. Needs counter.lua before it.
-- KEYS[i]  rate-limit counter i (the first `hits` are hit counters, the rest lock counters)
-- ARGV[1]  hits: how many of the KEYS are hit counters
-- ARGV[2i], ARGV[2i+1]  counter i's limit and window (ms)
-- Returns -1 when none is over, else the ms left in the window of the first one that is.
local hits = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local limit, window = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local left
  if i <= hits then
    left = counter_hit(key, limit, window)
  else
    left = counter_locked(key, limit, window)
  end
  if left then return left end
end
return -1
