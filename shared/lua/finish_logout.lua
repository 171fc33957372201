-- The owner has logged a session out (by command, by DELETE, or WhatsApp logged it out) and stopped
-- its client: wipe the session's auth state (the keys its registry lists), announce logged_out, then
-- either remove the session (DELETE asked for it) or keep it logged_out and stopped, and give the
-- lease up. Fenced, so a paused former owner can never wipe what the new owner relies on.
-- KEYS: 1 lease, 2 session hash, 3 event stream, 4 running set, 5 command stream, 6 auth registry
-- ARGV: 1 fence, 2 channel, 3 session id, 4 data JSON, 5 stream cap, 6 now, 7 reason
-- Returns 'removed' | 'logged_out', or an error reply "fenced"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('fenced')
end
local members = redis.call('SMEMBERS', KEYS[6])
for first = 1, #members, 500 do
  redis.call('DEL', unpack(members, first, math.min(first + 499, #members)))
end
redis.call('DEL', KEYS[6])
local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'event', 'logged_out',
  'data', ARGV[4])
redis.call('PUBLISH', ARGV[2], '{"id":' .. cjson.encode(id) .. ',"sessionId":' ..
  cjson.encode(ARGV[3]) .. ',"event":"logged_out","data":' .. ARGV[4] .. '}')
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[4], ARGV[3])
if redis.call('HGET', KEYS[2], 'desired') == 'deleted' then
  redis.call('DEL', KEYS[2], KEYS[5])
  return 'removed'
end
redis.call('HSET', KEYS[2], 'status', 'logged_out', 'desired', 'stopped', 'qr', '', 'jid', '',
  'owner', '', 'last_error', ARGV[7], 'updated_at', ARGV[6])
return 'logged_out'
