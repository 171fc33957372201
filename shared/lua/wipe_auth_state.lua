-- wipe_auth_state: delete every auth-state key of one session and the registry that lists them.
-- Not fenced: the api calls it for DELETE /sessions/:id, and an owner calls it after a logout.
--
-- KEYS[1]  registry set of the session's auth keys (all share the session's hash tag, so they live
--          in the registry's cluster slot)
--
-- Returns the number of keys deleted (the registry included).

local members = redis.call('SMEMBERS', KEYS[1])
local deleted = 0
local chunk = 500
for first = 1, #members, chunk do
  local last = math.min(first + chunk - 1, #members)
  deleted = deleted + redis.call('DEL', unpack(members, first, last))
end
return deleted + redis.call('DEL', KEYS[1])
