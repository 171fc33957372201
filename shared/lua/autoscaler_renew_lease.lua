-- Extend the autoscaler lease, only while the caller still holds it.
-- KEYS[1] lease key; ARGV[1] holder id; ARGV[2] TTL in milliseconds.
-- Returns 1 when renewed, 0 when the lease expired or belongs to another autoscaler.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
