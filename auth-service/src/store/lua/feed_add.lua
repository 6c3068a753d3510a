-- feed_add: appends entries to the revocation feed on its own, for a cluster, where the feed is in a
-- slot of its own and cannot be written by the script that revokes (see feed.lua for the format).
-- Needs now.lua and feed.lua before it. Appending an entry twice is harmless: backends apply a
-- revocation once, and the feed is trimmed by time either way.
-- KEYS[1]  revocation feed (keys::revocation_feed)
-- ARGV[1]  offset          test-only time offset (ms), 0 in production
-- ARGV[2]  life            the feed's life (ms)
-- ARGV[3..] per entry: kind, value, ms it stays in force from now, cut-off ('' for none)
-- Returns the number of entries appended.
local life = tonumber(ARGV[2])
local now = tonumber(now_ms(ARGV[1]))
local n = 0
for i = 3, #ARGV, 4 do
  local cutoff = ARGV[i + 3]
  if cutoff == '' then cutoff = nil end
  feed_append(KEYS[1], life, ARGV[i], ARGV[i + 1], string.format('%d', now + tonumber(ARGV[i + 2])), cutoff)
  n = n + 1
end
return n
