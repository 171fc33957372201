-- Take the single-autoscaler lease when nobody holds it (a holder that already has it keeps it).
-- KEYS[1] lease key; ARGV[1] holder id; ARGV[2] TTL in milliseconds.
-- Returns 1 when the caller now holds the lease, 0 when another autoscaler does.
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
