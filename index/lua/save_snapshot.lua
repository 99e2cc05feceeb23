-- save_snapshot.lua moves the snapshot pointer forward only, and only
-- while the head's lineage (epoch and removal count) is the one the
-- snapshot was folded under.
--
-- Every pointer it moves to is also kept in the snapshot history, so that
-- a read of the past starts from the nearest snapshot.
--
-- KEYS[1] head hash, KEYS[2] snapshot history (score = version, member =
-- object key); ARGV[1] version, ARGV[2] object key, ARGV[3] epoch,
-- ARGV[4] removals.
-- Returns 1 if the pointer is now (ARGV[1], ARGV[2]) because of this call or
-- an earlier attempt of it, 0 if the current pointer is as new or newer or
-- the lineage changed.
local h = redis.call('HMGET', KEYS[1], 'version', 'snap_version', 'snap_key', 'epoch', 'removals')
local last = tonumber(h[1] or '0')
local cur = tonumber(h[2] or '0')
local v = tonumber(ARGV[1])
if v > last then
  return redis.error_reply('LAKE snapshot version is ahead of the log')
end
if v == cur and h[3] == ARGV[2] then return 1 end
if v <= cur then return 0 end
if (h[4] or '0') ~= ARGV[3] or (h[5] or '0') ~= ARGV[4] then return 0 end
redis.call('HSET', KEYS[1], 'snap_version', ARGV[1], 'snap_key', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
return 1
