-- forget.lua takes snapshot pointers out of a catalog's snapshot history
-- and segments out of its registry, in one step, before garbage collection
-- deletes their objects. It refuses the head's current snapshot and any
-- segment ending above the trim floor, and then forgets nothing.
--
-- KEYS[1] head hash, KEYS[2] snapshot history, KEYS[3] segment registry.
-- ARGV[1] the number of snapshots n, then n (version, key) pairs, then
-- (after, last, key) triples for the segments.
-- Returns the number of entries removed; an error reply starting with
-- "LAKE in use" when something may not be forgotten.
local h = redis.call('HMGET', KEYS[1], 'snap_key', 'trimmed')
local trimmed = tonumber(h[2] or '0')
local n = tonumber(ARGV[1])
for i = 0, n - 1 do
  if h[1] and ARGV[3 + 2 * i] == h[1] then
    return redis.error_reply('LAKE in use: snapshot ' .. ARGV[3 + 2 * i] .. ' is the current one')
  end
end
for j = 2 + 2 * n, #ARGV, 3 do
  if tonumber(ARGV[j + 1]) > trimmed then
    return redis.error_reply('LAKE in use: segment ' .. ARGV[j + 2] .. ' ends at ' .. ARGV[j + 1] .. ', above the trim floor ' .. string.format('%d', trimmed))
  end
end
local removed = 0
for i = 0, n - 1 do
  removed = removed + redis.call('ZREM', KEYS[2], ARGV[3 + 2 * i])
end
for j = 2 + 2 * n, #ARGV, 3 do
  removed = removed + redis.call('ZREM', KEYS[3], ARGV[j] .. '|' .. ARGV[j + 2])
end
return removed
