-- Claim a session for one worker: only when no live lease exists and the session wants an owner
-- (desired running, or deleted and waiting for its wipe). Bumps the epoch, writes the lease
-- "<worker>:<epoch>" with a TTL, records the owner and makes sure the command group exists.
-- KEYS: 1 session hash, 2 lease, 3 command stream
-- ARGV: 1 worker id, 2 lease TTL ms, 3 now, 4 command group
-- Returns {outcome, epoch, desired, tenant}: outcome is claimed | owned | stopped | gone
local desired = redis.call('HGET', KEYS[1], 'desired')
if not desired then
  return {'gone', '0', '', ''}
end
if desired ~= 'running' and desired ~= 'deleted' then
  return {'stopped', '0', desired, ''}
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {'owned', '0', desired, ''}
end
local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('SET', KEYS[2], ARGV[1] .. ':' .. epoch, 'PX', ARGV[2])
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'updated_at', ARGV[3])
redis.pcall('XGROUP', 'CREATE', KEYS[3], ARGV[4], '0', 'MKSTREAM')
return {'claimed', tostring(epoch), desired, redis.call('HGET', KEYS[1], 'tenant') or ''}
