-- fenced_batch_write: apply a batch of auth-state writes for one session, atomically, only while the
-- caller still holds the session's lease.
--
-- KEYS[1]   lease key; must equal ARGV[1] ("<worker-id>:<epoch>")
-- KEYS[2]   registry set of the session's auth keys (every data key written is listed in it, so a
--           wipe finds them without scanning the keyspace)
-- KEYS[3..] data keys; ops name them by their index into KEYS
-- ARGV[1]   expected lease value
-- ARGV[2]   one character per data key: '1' adds KEYS[2 + n] to the registry, '0' skips it (the
--           writer already registered that key; a writer that cannot tell sends '1')
-- ARGV[3..] ops, each an opcode followed by its operands:
--   S k value          SET    KEYS[k] value
--   H k field value    HSET   KEYS[k] field value
--   D k field          HDEL   KEYS[k] field
--   X k                DEL    KEYS[k]
--   Z k member score   ZADD   KEYS[k] score member
--   R k member         ZREM   KEYS[k] member
--
-- Returns 1 when applied, 0 when the lease does not match (nothing written). Ops are validated
-- completely before the first write, so a malformed batch writes nothing either.

if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end

local marks = ARGV[2]
if #marks ~= #KEYS - 2 then
  return redis.error_reply('fenced_batch_write: one registry mark per data key expected')
end
local arity = { S = 2, H = 3, D = 2, X = 1, Z = 3, R = 2 }
local i = 3
local n = #ARGV
while i <= n do
  local want = arity[ARGV[i]]
  if not want then
    return redis.error_reply('fenced_batch_write: unknown opcode at ' .. i)
  end
  local k = tonumber(ARGV[i + 1])
  if not k or k < 3 or k > #KEYS or i + want > n then
    return redis.error_reply('fenced_batch_write: bad operands at ' .. i)
  end
  if ARGV[i] == 'Z' and not tonumber(ARGV[i + 3]) then
    return redis.error_reply('fenced_batch_write: bad score at ' .. i)
  end
  i = i + want + 1
end

for k = 3, #KEYS do
  if string.sub(marks, k - 2, k - 2) ~= '0' then
    redis.call('SADD', KEYS[2], KEYS[k])
  end
end

i = 3
while i <= n do
  local op = ARGV[i]
  local key = KEYS[tonumber(ARGV[i + 1])]
  if op == 'S' then
    redis.call('SET', key, ARGV[i + 2])
  elseif op == 'H' then
    redis.call('HSET', key, ARGV[i + 2], ARGV[i + 3])
  elseif op == 'D' then
    redis.call('HDEL', key, ARGV[i + 2])
  elseif op == 'X' then
    redis.call('DEL', key)
  elseif op == 'Z' then
    redis.call('ZADD', key, ARGV[i + 3], ARGV[i + 2])
  elseif op == 'R' then
    redis.call('ZREM', key, ARGV[i + 2])
  end
  i = i + arity[op] + 1
end
return 1
