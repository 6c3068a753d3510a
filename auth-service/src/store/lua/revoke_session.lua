-- revoke_session: marks a session revoked and, if given, revokes one access token of its user; a
-- `sid` entry (when the session was live) and a `jti` entry (when a token is given) go to the feed,
-- or on a cluster to the user's owed entries (see revoked.lua). With ARGV[7] '1', a session not
-- started (yet) is marked revoked all the same, for the feed's life: create_session refuses to start
-- it, so an authorization code's replay that arrives while the first exchange is still on its way to
-- starting the code's session (chosen at the authorization) ends that session too. Needs now.lua,
-- feed.lua and revoked.lua before it.
-- KEYS[1]  session            (keys::session)
-- KEYS[2]  revoked access jti (keys::revoked_jti; written only when ARGV[4] is not empty)
-- KEYS[3]  where revocations go: the feed (keys::revocation_feed), or on a cluster keys::owed
-- ARGV[1]  offset             test-only time offset (ms), 0 in production
-- ARGV[2]  sid
-- ARGV[3]  life               the feed's life (ms): the longest access-token life plus leeway
-- ARGV[4]  jti                or '' for none
-- ARGV[5]  jti_ttl_ms         how long the access token stays revoked
-- ARGV[6]  cluster            '1' when KEYS[3] is the owed entries
-- ARGV[7]  unstarted          '1': mark a session not started yet revoked (see above)
-- Returns 1 when an entry was owed (a cluster: the store appends it next), else 0.
local offset, sid, life = ARGV[1], ARGV[2], tonumber(ARGV[3])
local jti, cluster = ARGV[4], ARGV[6] == '1'
local now = tonumber(now_ms(offset))
local rev = redis.call('HGET', KEYS[1], 'rev')
local owed = 0
-- '2': revoked by a version that appended the entry in a second call and had not yet.
if rev == '0' or rev == '2' then
  redis.call('HSET', KEYS[1], 'rev', '1')
  record_revocation(KEYS[3], cluster, life, 'sid', sid, string.format('%d', now + life))
  owed = 1
elseif not rev and ARGV[7] == '1' then
  -- No tokens of it exist, so nothing goes to the feed.
  redis.call('HSET', KEYS[1], 'rev', '1')
  redis.call('PEXPIRE', KEYS[1], life)
end
if jti ~= '' then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[5])
  record_revocation(KEYS[3], cluster, life, 'jti', jti, string.format('%d', now + tonumber(ARGV[5])))
  owed = 1
end
if cluster then return owed end
return 0
