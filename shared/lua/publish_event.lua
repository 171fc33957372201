-- Record and announce one event of a session, fenced by its owner's lease: append it to the
-- session's capped event stream, then publish it with its stream id on the tenant's channel.
-- KEYS: 1 lease, 2 event stream
-- ARGV: 1 fence token "<worker>:<epoch>", 2 channel, 3 session id, 4 event name, 5 data JSON,
--       6 stream cap
-- Returns the stream id, or an error reply "fenced" when the lease is not ours.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('fenced')
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'event', ARGV[4], 'data', ARGV[5])
local payload = '{"id":' .. cjson.encode(id) .. ',"sessionId":' .. cjson.encode(ARGV[3]) ..
  ',"event":' .. cjson.encode(ARGV[4]) .. ',"data":' .. ARGV[5] .. '}'
redis.call('PUBLISH', ARGV[2], payload)
return id
