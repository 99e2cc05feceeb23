-- restore.lua writes a catalog's state rebuilt from object storage, in one
-- step, only if the catalog does not exist (its head has no version).
--
-- KEYS[1] head hash, KEYS[2] log, KEYS[3] snapshot history, KEYS[4]
-- segment registry. ARGV: version, epoch, gone, snap_version, snap_key,
-- archived, trimmed, then the number of snapshots n and n (version, key)
-- pairs, the number of segments m and m (last, "<after>|<key>") pairs, and
-- the log's (version, member) pairs.
-- Returns 1; an error reply starting with "LAKE exists" when the catalog
-- exists.
if redis.call('HGET', KEYS[1], 'version') then
  return redis.error_reply('LAKE exists')
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
local fields = {'version', ARGV[1], 'epoch', ARGV[2], 'archived', ARGV[6], 'trimmed', ARGV[7]}
if ARGV[3] ~= '0' then
  fields[#fields + 1] = 'gone'
  fields[#fields + 1] = ARGV[3]
end
if ARGV[4] ~= '0' then
  fields[#fields + 1] = 'snap_version'
  fields[#fields + 1] = ARGV[4]
  fields[#fields + 1] = 'snap_key'
  fields[#fields + 1] = ARGV[5]
end
redis.call('HSET', KEYS[1], unpack(fields))
local a = 8
local n = tonumber(ARGV[a])
local function add(key, first, count)
  -- ZADD in bounded chunks: unpack has a stack limit.
  for i = first, first + 2 * count - 1, 2000 do
    local stop = math.min(i + 1999, first + 2 * count - 1)
    redis.call('ZADD', key, unpack(ARGV, i, stop))
  end
end
if n > 0 then add(KEYS[3], a + 1, n) end
a = a + 1 + 2 * n
local m = tonumber(ARGV[a])
if m > 0 then add(KEYS[4], a + 1, m) end
a = a + 1 + 2 * m
-- a is now where the log's pairs start.
local rest = (#ARGV - a + 1) / 2
if rest > 0 then add(KEYS[2], a, rest) end
return 1
