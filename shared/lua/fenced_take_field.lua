-- fenced_take_field: read and remove one hash field (and its entry in an age index) in one step,
-- only while the caller still holds the session's lease. Used where consuming a value must happen
-- at most once (a sent message taken for a retry).
--
-- KEYS[1]  lease key; must equal ARGV[1]
-- KEYS[2]  hash holding the value
-- KEYS[3]  sorted set indexing the field by age
-- ARGV[1]  expected lease value
-- ARGV[2]  field
--
-- Returns {0, nil} when the lease does not match (nothing removed), otherwise {1, value-or-nil}.

if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return { 0, false }
end
local value = redis.call('HGET', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[2])
return { 1, value }
