-- Forgets who holds a credential id, if it is still that user. KEYS[1] the index entry; ARGV[1] the
-- user id. 1 removed, 0 not theirs (or gone).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
