-- Fragment (prepended to the scripts that read the time): defines `now_ms(offset)`.
-- KEYS: none. ARGV: none; the caller passes its `offset` argument (the test-only time offset, ms).
-- Returns Redis's now in ms plus `offset`, as a decimal string: Lua numbers are doubles, exact for ms
-- since the epoch, but `tostring` may not print them whole.
local function now_ms(offset)
  local t = redis.call('TIME')
  return string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(offset))
end
