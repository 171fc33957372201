-- Delete a session: hide it from its tenant at once, and have a worker log the device out and wipe
-- its auth state (its owner through a command, or whichever worker claims it).
-- KEYS: 1 session hash, 2 tenant set, 3 all-sessions set, 4 running set, 5 lease,
--       6 command stream, 7 claims stream
-- ARGV: 1 session id, 2 tenant, 3 now, 4 claims group
-- Returns 'deleted' | 'not_found'
local tenant = redis.call('HGET', KEYS[1], 'tenant')
if tenant ~= ARGV[2] or redis.call('HGET', KEYS[1], 'desired') == 'deleted' then
  return 'not_found'
end
redis.call('HSET', KEYS[1], 'desired', 'deleted', 'updated_at', ARGV[3], 'qr', '')
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[1])
redis.call('XADD', KEYS[6], '*', 'kind', 'logout', 'cmd', '{"type":"logout"}')
if redis.call('EXISTS', KEYS[5]) == 0 then
  redis.pcall('XGROUP', 'CREATE', KEYS[7], ARGV[4], '0', 'MKSTREAM')
  redis.call('XADD', KEYS[7], '*', 'session', ARGV[1])
end
return 'deleted'
