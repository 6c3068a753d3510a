-- Fragment (prepended to every script that revokes, after feed.lua): defines `record_revocation`.
-- KEYS: none of its own; the caller passes `target`: the revocation feed (keys::revocation_feed) on
-- one Redis or Sentinel, where the entry is appended in the same atomic step, or, on a cluster (the
-- feed is in a slot of its own), the user's owed entries (keys::owed), where the entry is recorded in
-- the same atomic step as the revocation and from which the store appends it to the feed afterwards
-- (at once, and again by the sweeper until it is written: see redis.rs). `cluster` says which.
-- ARGV: none of its own.
-- An owed entry is the hash field '<kind>:<value>' = '<until_ms>|<cutoff or empty>'.
local function record_revocation(target, cluster, life, kind, value, until_ms, cutoff)
  if cluster then
    redis.call('HSET', target, kind .. ':' .. value, until_ms .. '|' .. (cutoff or ''))
    redis.call('PEXPIRE', target, life)
  else
    feed_append(target, life, kind, value, until_ms, cutoff)
  end
end
