-- The owner reports an inbound WhatsApp message once: remember its id in the session's seen set
-- (a sorted set scored by arrival, trimmed past its window) and, only the first time, record and
-- publish the incoming_message event. Fenced like every owner write.
-- KEYS: 1 lease, 2 seen set, 3 event stream
-- ARGV: 1 fence, 2 channel, 3 session id, 4 data JSON, 5 stream cap, 6 WhatsApp message id,
--       7 now (ms), 8 window (ms)
-- Returns the event's stream id, '' for a duplicate, or an error reply "fenced"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('fenced')
end
local now = tonumber(ARGV[7])
if redis.call('ZADD', KEYS[2], 'NX', now, ARGV[6]) == 0 then
  return ''
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[8]))
redis.call('PEXPIRE', KEYS[2], ARGV[8])
local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'event', 'incoming_message',
  'data', ARGV[4])
redis.call('PUBLISH', ARGV[2], '{"id":' .. cjson.encode(id) .. ',"sessionId":' ..
  cjson.encode(ARGV[3]) .. ',"event":"incoming_message","data":' .. ARGV[4] .. '}')
return id
