-- Tell a session's owner that the session has new commands: append the session id to the owner's
-- inbox, which the owner reads instead of polling every command stream it holds. Nobody is rung
-- when the session has no owner (its next owner reads the stream when it claims it). The inbox is
-- capped and always carries a TTL (the owner's heartbeat extends it), so the inbox of a worker that
-- is gone disappears on its own. enqueue_send.lua rings the same way in the step that writes a send.
-- KEYS: 1 the session's lease ("<worker-id>:<epoch>")
-- ARGV: 1 inbox name prefix (the worker id is appended), 2 session id, 3 cap (approximate MAXLEN),
--       4 TTL in milliseconds when the inbox has none
-- Returns the doorbell's stream id, or '' when nobody owns the session
-- The inbox is named after the lease's holder, so it is not declared in KEYS: this step needs a
-- single Redis (or the inbox and the lease in one slot), like the message index.
local lease = redis.call('GET', KEYS[1])
if not lease then
  return ''
end
local worker = string.match(lease, '^(.+):[^:]*$')
if not worker then
  return ''
end
local inbox = ARGV[1] .. worker
local id = redis.call('XADD', inbox, 'MAXLEN', '~', ARGV[3], '*', 'session', ARGV[2])
if redis.call('PTTL', inbox) < 0 then
  redis.call('PEXPIRE', inbox, ARGV[4])
end
return id
