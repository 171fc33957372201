-- The owner reports progress of an outbound message: advance its record (status only moves forward:
-- queued < sent < delivered < read; failed ends it), append to its history, then record and publish
-- the events — one fenced step, so a client that sees the event finds the record already updated.
-- When the report settles a send command, the command's stream entry is acknowledged in the same
-- step (the effect and the acknowledgement land together).
-- KEYS: 1 lease, 2 message record, 3 event stream, 4 the session's command stream
-- ARGV: 1 fence, 2 channel, 3 session id, 4 new status, 5 now, 6 reason ('' for none),
--       7 WhatsApp message id ('' to keep), 8 stream cap, 9 command entry id to acknowledge ('' for
--       none), 10 command consumer group, 11.. event name, data JSON pairs
-- Returns 'applied' | 'stale' (status did not advance; no event) | 'missing' (record expired), or an
-- error reply "fenced"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('fenced')
end
if ARGV[9] ~= '' then
  redis.call('XACK', KEYS[4], ARGV[10], ARGV[9])
end
local rank = { queued = 0, sent = 1, delivered = 2, read = 3, failed = 4 }
local current = redis.call('HGET', KEYS[2], 'status')
if not current then
  return 'missing'
end
local new = ARGV[4]
if current == 'failed' or current == 'read' or (rank[new] or -1) <= (rank[current] or 0) then
  return 'stale'
end
local history = cjson.decode(redis.call('HGET', KEYS[2], 'history') or '[]')
local step = { status = new, at = ARGV[5] }
if ARGV[6] ~= '' then step.reason = ARGV[6] end
history[#history + 1] = step
redis.call('HSET', KEYS[2], 'status', new, 'updated_at', ARGV[5], 'history', cjson.encode(history))
if ARGV[6] ~= '' then redis.call('HSET', KEYS[2], 'error', ARGV[6]) end
if ARGV[7] ~= '' then redis.call('HSET', KEYS[2], 'wa_id', ARGV[7]) end
for i = 11, #ARGV, 2 do
  local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[8], '*', 'event', ARGV[i],
    'data', ARGV[i + 1])
  redis.call('PUBLISH', ARGV[2], '{"id":' .. cjson.encode(id) .. ',"sessionId":' ..
    cjson.encode(ARGV[3]) .. ',"event":' .. cjson.encode(ARGV[i]) .. ',"data":' .. ARGV[i + 1] .. '}')
end
return 'applied'
