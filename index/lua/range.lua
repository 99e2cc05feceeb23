-- range.lua says where a catalog's entries with ARGV[1] < version <=
-- ARGV[2] are, in one atomic step: the registered segments that hold any
-- of them, and the log entries above the trim floor.
--
-- KEYS[1] head hash, KEYS[2] log, KEYS[3] segment registry.
-- Returns {version, snap_version, snap_key, epoch, removals, archived,
-- trimmed, gone, {segment member, last, ...}, {member, score, ...}}.
local h = redis.call('HMGET', KEYS[1], 'version', 'snap_version', 'snap_key', 'epoch', 'removals', 'archived', 'trimmed', 'gone')
local after, upto = tonumber(ARGV[1]), tonumber(ARGV[2])
local trimmed = tonumber(h[7] or '0')
local stop = upto
local segs = {}
if after < stop then
  local list = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[1], '+inf', 'WITHSCORES')
  for i = 1, #list, 2 do
    local m = list[i]
    local sep = string.find(m, '|', 1, true)
    if sep and tonumber(string.sub(m, 1, sep - 1)) >= stop then break end
    segs[#segs + 1] = m
    segs[#segs + 1] = list[i + 1]
  end
end
local from = math.max(after, trimmed)
local entries = {}
if from < upto then
  entries = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. string.format('%d', from), ARGV[2], 'WITHSCORES')
end
return {h[1] or '0', h[2] or '0', h[3] or '', h[4] or '0', h[5] or '0', h[6] or '0', h[7] or '0', h[8] or '0', segs, entries}
