-- release.lua gives up a lease, only if the owner still holds it (a lease
-- that expired and went to another owner is theirs).
--
-- KEYS[1] lease key; ARGV[1] owner. Returns 1 when released, else 0.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
