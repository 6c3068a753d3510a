-- Fragment (prepended to every script that revokes): defines `feed_append`.
-- KEYS: none of its own; the caller passes the feed's key (keys::revocation_feed).
-- ARGV: none of its own; the caller passes `life`, the longest an access token lives plus leeway (ms).
-- Appends one entry to the revocation feed, in the format of shared::revocation (fields kind, value,
-- cutoff for `sub` only, until), and trims the feed by time: entries added more than `life` ms ago
-- (Redis's own clock, as the entry ids are) are removed, and the key expires `life` ms after the
-- last entry. So the feed holds exactly the revocations that may still matter.
local function feed_append(key, life, kind, value, until_ms, cutoff)
  local t = redis.call('TIME')
  local real_now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local minid = string.format('%d', real_now - tonumber(life))
  if cutoff then
    redis.call('XADD', key, 'MINID', minid, '*', 'kind', kind, 'value', value, 'cutoff', cutoff, 'until', until_ms)
  else
    redis.call('XADD', key, 'MINID', minid, '*', 'kind', kind, 'value', value, 'until', until_ms)
  end
  redis.call('PEXPIRE', key, life)
end
