package index

// Redis Lua turns numbers into strings with "%.14g", which would round a
// 16-digit version; every number that goes back to Redis is formatted with
// string.format('%d') instead. Versions stay below 2^53, where a Lua double
// is exact.

// scriptCommit allocates the next version of a catalog and appends one entry
// to its log. The version is Redis TIME in microseconds, but never at or
// below the last version, so it is strictly increasing even when the clock
// steps back or when many commits land within one microsecond.
//
// A member that is already in the log (a retried commit) is not added again:
// its version is returned.
//
// KEYS[1] head hash, KEYS[2] log sorted set; ARGV[1] member. Returns the version.
const scriptCommit = `
local done = redis.call('ZSCORE', KEYS[2], ARGV[1])
if done then return tonumber(done) end
local t = redis.call('TIME')
local v = tonumber(t[1]) * 1000000 + tonumber(t[2])
local last = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if v <= last then v = last + 1 end
if v > 9007199254740991 then
  return redis.error_reply('LAKE version would exceed 2^53-1')
end
local vs = string.format('%d', v)
redis.call('HSET', KEYS[1], 'version', vs)
redis.call('ZADD', KEYS[2], vs, ARGV[1])
return v
`

// scriptRead returns a catalog's head and the log entries after
// max(ARGV[1], snapshot version), in one atomic step.
//
// KEYS[1] head hash, KEYS[2] log; ARGV[1] after.
// Returns {version, snap_version, snap_key, {member, score, ...}}.
const scriptRead = `
local h = redis.call('HMGET', KEYS[1], 'version', 'snap_version', 'snap_key')
local from = tonumber(h[2] or '0')
local after = tonumber(ARGV[1])
if after > from then from = after end
local log = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. string.format('%d', from), '+inf', 'WITHSCORES')
return {h[1] or '0', h[2] or '0', h[3] or '', log}
`

// scriptSaveSnapshot moves the snapshot pointer forward only.
//
// KEYS[1] head hash; ARGV[1] version, ARGV[2] object key.
// Returns 1 if the pointer is now (ARGV[1], ARGV[2]) because of this call or
// an earlier attempt of it, 0 if the current pointer is as new or newer.
const scriptSaveSnapshot = `
local h = redis.call('HMGET', KEYS[1], 'version', 'snap_version', 'snap_key')
local last = tonumber(h[1] or '0')
local cur = tonumber(h[2] or '0')
local v = tonumber(ARGV[1])
if v > last then
  return redis.error_reply('LAKE snapshot version is ahead of the log')
end
if v == cur and h[3] == ARGV[2] then return 1 end
if v <= cur then return 0 end
redis.call('HSET', KEYS[1], 'snap_version', ARGV[1], 'snap_key', ARGV[2])
return 1
`
