-- Ask for an owner for sessions that want one but have none (their worker died without releasing
-- them): for each candidate still desired running/deleted, without a lease and not re-queued within
-- the marker's TTL, append a claim. Any worker may run this; the marker keeps the fleet from
-- flooding the claims stream, and the claim script makes a duplicate harmless anyway.
-- KEYS: 1 claims stream, then per session: session hash, lease, requeue marker
-- ARGV: 1 claims group, 2 marker TTL ms, 3.. session ids (same order as the key triples)
-- Returns the number of claims queued
local queued = 0
redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
for i = 3, #ARGV do
  local base = 2 + (i - 3) * 3
  local desired = redis.call('HGET', KEYS[base], 'desired')
  if (desired == 'running' or desired == 'deleted') and redis.call('EXISTS', KEYS[base + 1]) == 0
    and redis.call('SET', KEYS[base + 2], '1', 'NX', 'PX', ARGV[2]) then
    redis.call('XADD', KEYS[1], '*', 'session', ARGV[i])
    queued = queued + 1
  end
end
return queued
