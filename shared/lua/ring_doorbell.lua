-- Tell a session's owner that the session has new commands: append the session id to the owner's
-- inbox, which the owner reads instead of polling every command stream it holds. The inbox is
-- capped and always carries a TTL (the owner's heartbeat extends it), so the inbox of a worker that
-- is gone disappears on its own.
-- KEYS: 1 the owner's inbox stream
-- ARGV: 1 session id, 2 cap (approximate MAXLEN), 3 TTL in milliseconds when the inbox has none
-- Returns the doorbell's stream id
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'session', ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return id
