-- add_segment.lua registers a stored log segment and moves the catalog's
-- archive mark to its end, only where the archive ends now: two archivers
-- never leave a gap or an overlap.
--
-- KEYS[1] head hash, KEYS[2] segment sorted set (score = last version,
-- member = "<after>|<object key>"); ARGV[1] after, ARGV[2] last, ARGV[3] key.
-- Returns 1; an error reply starting with "LAKE archive moved" when the
-- segment does not start where the archive ends or ends past the log.
local member = ARGV[1] .. '|' .. ARGV[3]
local score = redis.call('ZSCORE', KEYS[2], member)
if score and tonumber(score) == tonumber(ARGV[2]) then return 1 end
local h = redis.call('HMGET', KEYS[1], 'version', 'archived')
local version = tonumber(h[1] or '0')
local archived = tonumber(h[2] or '0')
if version == 0 or tonumber(ARGV[1]) ~= archived then
  return redis.error_reply('LAKE archive moved: it ends at ' .. string.format('%d', archived) .. ', the segment starts after ' .. ARGV[1])
end
if tonumber(ARGV[2]) > version then
  return redis.error_reply('LAKE archive moved: the segment ends at ' .. ARGV[2] .. ', past the log (' .. string.format('%d', version) .. ')')
end
redis.call('ZADD', KEYS[2], ARGV[2], member)
redis.call('HSET', KEYS[1], 'archived', ARGV[2])
return 1
