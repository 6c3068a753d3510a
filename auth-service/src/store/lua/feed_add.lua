-- feed_add: appends entries to the revocation feed on its own, for a cluster, where the feed is in a
-- slot of its own and cannot be written by the script that revokes (see feed.lua for the format).
-- Needs feed.lua before it. Appending an entry twice is harmless: backends apply a
-- revocation once, and the feed is trimmed by time either way.
-- KEYS[1]  revocation feed (keys::revocation_feed)
-- ARGV[1]  (unused)
-- ARGV[2]  life            the feed's life (ms)
-- ARGV[3..] per entry: kind, value, until (ms: when it stops mattering), cut-off ('' for none)
-- Returns the number of entries appended.
local life = tonumber(ARGV[2])
local n = 0
for i = 3, #ARGV, 4 do
  local cutoff = ARGV[i + 3]
  if cutoff == '' then cutoff = nil end
  feed_append(KEYS[1], life, ARGV[i], ARGV[i + 1], ARGV[i + 2], cutoff)
  n = n + 1
end
return n
