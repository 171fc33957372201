-- Set and clear workers' drain marks in one step, fenced by the autoscaler lease.
-- KEYS[1] lease key; KEYS[2 .. 1+n] drain keys to set; KEYS[2+n ..] drain keys to clear.
-- ARGV[1] holder id; ARGV[2] n (how many keys to set); ARGV[3] mark TTL in milliseconds.
-- Returns -1 (nothing written) when the caller no longer holds the lease, else the number cleared.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
local n = tonumber(ARGV[2])
for i = 2, n + 1 do
  redis.call('SET', KEYS[i], '1', 'PX', ARGV[3])
end
local cleared = 0
for i = n + 2, #KEYS do
  cleared = cleared + redis.call('DEL', KEYS[i])
end
return cleared
