-- lease.lua takes a catalog's maintenance lease for an owner, or renews it
-- when that owner holds it already.
--
-- KEYS[1] lease key; ARGV[1] owner, ARGV[2] time to live in milliseconds.
-- Returns 1 when the owner holds the lease now, 0 when another owner does.
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
