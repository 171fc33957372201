-- Accept an outbound message: check the session, honour the idempotency key, write the message
-- record (queued) and its index, append the send command and ring the owner's doorbell (as
-- ring_doorbell.lua does; nobody when the session has no owner) — one atomic step, one round trip.
-- KEYS: 1 session hash, 2 idempotency key, 3 message record, 4 message index, 5 command stream,
--       6 lease
-- ARGV: 1 tenant, 2 message id, 3 recipient digits, 4 now, 5 command JSON, 6 TTL seconds,
--       7 "1" when an idempotency key was given, 8 session id, 9 history JSON, 10 inbox name prefix
--       (the owner's worker id is appended), 11 inbox cap (approximate MAXLEN), 12 inbox TTL in
--       milliseconds when it has none
-- Returns {outcome, message id}: outcome is queued | duplicate | not_found | stopped | logged_out
-- The inbox is named after the lease's holder, so it is not declared in KEYS: this step needs a
-- single Redis, like the message index.
local tenant = redis.call('HGET', KEYS[1], 'tenant')
local desired = redis.call('HGET', KEYS[1], 'desired')
if tenant ~= ARGV[1] or desired == 'deleted' then
  return {'not_found', ''}
end
if ARGV[7] == '1' then
  local existing = redis.call('GET', KEYS[2])
  if existing then
    return {'duplicate', existing}
  end
end
if redis.call('HGET', KEYS[1], 'status') == 'logged_out' then
  return {'logged_out', ''}
end
if desired ~= 'running' then
  return {'stopped', ''}
end
local ttl = tonumber(ARGV[6])
if ARGV[7] == '1' then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ttl)
end
redis.call('HSET', KEYS[3], 'session_id', ARGV[8], 'tenant', tenant, 'to', ARGV[3],
  'status', 'queued', 'created_at', ARGV[4], 'updated_at', ARGV[4], 'history', ARGV[9])
redis.call('EXPIRE', KEYS[3], ttl)
redis.call('SET', KEYS[4], ARGV[8], 'EX', ttl)
redis.call('XADD', KEYS[5], '*', 'kind', 'send', 'cmd', ARGV[5])
local lease = redis.call('GET', KEYS[6])
local worker = lease and string.match(lease, '^(.+):[^:]*$')
if worker then
  local inbox = ARGV[10] .. worker
  redis.call('XADD', inbox, 'MAXLEN', '~', ARGV[11], '*', 'session', ARGV[8])
  if redis.call('PTTL', inbox) < 0 then
    redis.call('PEXPIRE', inbox, ARGV[12])
  end
end
return {'queued', ARGV[2]}
