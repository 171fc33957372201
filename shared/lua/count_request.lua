-- Count one request against a fixed-window rate limit.
-- KEYS: 1 the window's counter
-- ARGV: 1 window length in milliseconds
-- Returns {count in this window, milliseconds until the window ends}
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
