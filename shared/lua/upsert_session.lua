-- Connect or reconnect a session: create it, or set it running again, and queue what makes a worker
-- act on it (a claim when nobody owns it, a reconnect command when its owner is alive).
-- KEYS: 1 session hash, 2 tenant set, 3 all-sessions set, 4 running set, 5 claims stream,
--       6 lease, 7 command stream
-- ARGV: 1 session id, 2 tenant, 3 name, 4 phone, 5 now, 6 mode ("connect" | "reconnect"),
--       7 claims group, 8 command group
-- Returns {outcome, status}: outcome is created | started | running | reconnecting | foreign | deleting
local sid, tenant, name, phone, now, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]

local function ensure_group(stream, group)
  redis.pcall('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
end

local function queue_claim()
  ensure_group(KEYS[5], ARGV[7])
  redis.call('XADD', KEYS[5], '*', 'session', sid)
end

local owner = redis.call('HGET', KEYS[1], 'tenant')
if owner and owner ~= tenant then
  return {'foreign', ''}
end

ensure_group(KEYS[7], ARGV[8])

if not owner then
  redis.call('HSET', KEYS[1], 'tenant', tenant, 'name', name, 'phone', phone,
    'status', 'connecting', 'desired', 'running', 'created_at', now, 'updated_at', now,
    'epoch', '0', 'last_error', '')
  redis.call('SADD', KEYS[2], sid)
  redis.call('SADD', KEYS[3], sid)
  redis.call('SADD', KEYS[4], sid)
  queue_claim()
  return {'created', 'connecting'}
end

local desired = redis.call('HGET', KEYS[1], 'desired')
if desired == 'deleted' then
  return {'deleting', ''}
end

if name ~= '' then redis.call('HSET', KEYS[1], 'name', name) end
if phone ~= '' then redis.call('HSET', KEYS[1], 'phone', phone) end
local leased = redis.call('EXISTS', KEYS[6]) == 1

if desired == 'running' then
  local status = redis.call('HGET', KEYS[1], 'status')
  if mode == 'reconnect' then
    redis.call('HSET', KEYS[1], 'updated_at', now)
    if leased then
      redis.call('XADD', KEYS[7], '*', 'kind', 'reconnect', 'cmd', '{"type":"reconnect"}')
    else
      queue_claim()
    end
    return {'reconnecting', status}
  end
  if not leased then
    -- running but unowned (an orphan): ask for an owner again; a duplicate claim is harmless
    queue_claim()
  end
  return {'running', status}
end

-- stopped (or a logged-out session being linked again): run it
redis.call('HSET', KEYS[1], 'desired', 'running', 'status', 'connecting', 'updated_at', now,
  'last_error', '')
redis.call('SADD', KEYS[4], sid)
if leased then
  redis.call('XADD', KEYS[7], '*', 'kind', 'reconnect', 'cmd', '{"type":"reconnect"}')
else
  queue_claim()
end
return {'started', 'connecting'}
