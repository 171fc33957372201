-- Disconnect a session but keep its linked device: desired = stopped, and tell the owner, if any.
-- KEYS: 1 session hash, 2 running set, 3 lease, 4 command stream
-- ARGV: 1 session id, 2 tenant, 3 now
-- Returns 'stopped' | 'not_found'
local tenant = redis.call('HGET', KEYS[1], 'tenant')
if tenant ~= ARGV[2] or redis.call('HGET', KEYS[1], 'desired') == 'deleted' then
  return 'not_found'
end
redis.call('HSET', KEYS[1], 'desired', 'stopped', 'updated_at', ARGV[3])
redis.call('SREM', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('XADD', KEYS[4], '*', 'kind', 'disconnect', 'cmd', '{"type":"disconnect"}')
else
  local status = redis.call('HGET', KEYS[1], 'status')
  if status == 'connecting' or status == 'connected' then
    redis.call('HSET', KEYS[1], 'status', 'disconnected', 'qr', '')
  end
end
return 'stopped'
