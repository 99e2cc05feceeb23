-- trim.lua removes a catalog's log entries at or below ARGV[1] and records
-- the trim floor, in one step, but only entries that a registered segment
-- holds (version <= archived) and that are not above the latest snapshot:
-- a current read never needs a segment.
--
-- KEYS[1] head hash, KEYS[2] log sorted set; ARGV[1] the version to trim to.
-- Returns how many entries were removed; an error reply starting with
-- "LAKE trim refused" when the trim would break either rule.
local h = redis.call('HMGET', KEYS[1], 'snap_version', 'archived', 'trimmed')
local up = tonumber(ARGV[1])
local archived = tonumber(h[2] or '0')
local snap = tonumber(h[1] or '0')
if up > archived then
  return redis.error_reply('LAKE trim refused: version ' .. ARGV[1] .. ' is not archived (the archive ends at ' .. string.format('%d', archived) .. ')')
end
if up > snap then
  return redis.error_reply('LAKE trim refused: version ' .. ARGV[1] .. ' is above the latest snapshot (' .. string.format('%d', snap) .. ')')
end
if up <= tonumber(h[3] or '0') then return 0 end
local n = redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
redis.call('HSET', KEYS[1], 'trimmed', ARGV[1])
return n
