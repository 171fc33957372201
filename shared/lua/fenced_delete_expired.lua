-- fenced_delete_expired: remove every hash field whose score in the age index is at or below a
-- cutoff, only while the caller still holds the session's lease.
--
-- KEYS[1]  lease key; must equal ARGV[1]
-- KEYS[2]  hash holding the values
-- KEYS[3]  sorted set: field -> timestamp (seconds)
-- ARGV[1]  expected lease value
-- ARGV[2]  highest score removed, in ZRANGEBYSCORE syntax ("(123" excludes 123)
--
-- Returns the number of fields removed, or -1 when the lease does not match (nothing removed).

if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
local fields = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[2])
local chunk = 500
for first = 1, #fields, chunk do
  local last = math.min(first + chunk - 1, #fields)
  redis.call('HDEL', KEYS[2], unpack(fields, first, last))
  redis.call('ZREM', KEYS[3], unpack(fields, first, last))
end
return #fields
