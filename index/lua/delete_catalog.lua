-- delete_catalog.lua removes a catalog from the index in one step: its
-- log, snapshot history, segment registry and head. The head hash keeps
-- one field, gone: the deletion version, above every version the catalog
-- had, so that a catalog written again later starts above it (commit.lua).
--
-- KEYS[1] head hash, KEYS[2] log, KEYS[3] snapshot history, KEYS[4]
-- segment registry. Returns the deletion version; for a catalog that does
-- not exist, its earlier deletion version or 0.
local h = redis.call('HMGET', KEYS[1], 'version', 'gone')
local version = tonumber(h[1] or '0')
local gone = tonumber(h[2] or '0')
if version == 0 then return gone end
local t = redis.call('TIME')
local d = tonumber(t[1]) * 1000000 + tonumber(t[2])
if d <= version then d = version + 1 end
if d <= gone then d = gone + 1 end
if d > 9007199254740991 then
  return redis.error_reply('LAKE version overflow')
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
redis.call('HSET', KEYS[1], 'gone', string.format('%d', d))
return d
