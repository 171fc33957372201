-- Give a session up: delete the lease if it is still ours, clear the owner and, when asked and the
-- session still wants an owner, queue a claim so another worker connects it at once.
-- KEYS: 1 lease, 2 session hash, 3 claims stream
-- ARGV: 1 expected lease value, 2 now, 3 "1" to re-queue, 4 session id, 5 claims group
-- Returns 1 when released, 0 when the lease was no longer ours (nothing changed)
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'owner', '', 'updated_at', ARGV[2])
  local desired = redis.call('HGET', KEYS[2], 'desired')
  if ARGV[3] == '1' and (desired == 'running' or desired == 'deleted') then
    redis.pcall('XGROUP', 'CREATE', KEYS[3], ARGV[5], '0', 'MKSTREAM')
    redis.call('XADD', KEYS[3], '*', 'session', ARGV[4])
  end
end
return 1
