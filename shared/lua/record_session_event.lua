-- The owner reports a change of its session: update fields of the session hash and, when an event
-- name is given, append the event to the session's capped stream and publish it on the tenant's
-- channel — one fenced step, so the record and the event never disagree. Setting desired=stopped
-- (QR timeout, replacement, failure) also takes the session out of the running set.
-- KEYS: 1 lease, 2 session hash, 3 event stream, 4 running set
-- ARGV: 1 fence "<worker>:<epoch>", 2 channel, 3 session id, 4 event name ('' for none),
--       5 data JSON, 6 stream cap, 7.. field, value pairs for the session hash
-- Returns the event's stream id ('' without an event), or an error reply "fenced"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('fenced')
end
if #ARGV >= 8 and redis.call('EXISTS', KEYS[2]) == 1 then
  local fields = {}
  for i = 7, #ARGV, 2 do
    fields[#fields + 1] = ARGV[i]
    fields[#fields + 1] = ARGV[i + 1]
    if ARGV[i] == 'desired' and ARGV[i + 1] == 'stopped' then
      redis.call('SREM', KEYS[4], ARGV[3])
    end
  end
  redis.call('HSET', KEYS[2], unpack(fields))
end
if ARGV[4] == '' then
  return ''
end
local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'event', ARGV[4], 'data', ARGV[5])
redis.call('PUBLISH', ARGV[2], '{"id":' .. cjson.encode(id) .. ',"sessionId":' ..
  cjson.encode(ARGV[3]) .. ',"event":' .. cjson.encode(ARGV[4]) .. ',"data":' .. ARGV[5] .. '}')
return id
