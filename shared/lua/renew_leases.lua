-- Renew every lease one worker holds, in one round trip. A lease is extended only while it still
-- holds the worker's own "<worker>:<epoch>" value.
-- KEYS: the lease keys
-- ARGV: 1 lease TTL ms, 2.. the expected lease value of each key, in the same order
-- Returns one integer per key: 1 renewed, 0 lost
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i + 1] then
    redis.call('PEXPIRE', key, ARGV[1])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
