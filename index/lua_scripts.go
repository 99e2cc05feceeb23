package index

// Redis Lua turns numbers into strings with "%.14g", which would round a
// 16-digit version; every number that goes back to Redis is formatted with
// string.format('%d') instead. Versions stay below 2^53, where a Lua double
// is exact.

// scriptCommit commits a batch of deltas to one or more catalogs (group
// commit: the concurrent writes of one process go to Redis together). For
// each catalog it allocates the next versions and appends one entry per
// delta to the log, in the order given. A version is Redis TIME in
// microseconds, but never at or below the catalog's last version, so
// versions are strictly increasing even when the clock steps back or when
// many commits land within one microsecond.
//
// A member that is already in the log (a retried commit, or one delta twice
// in a batch) is not added again: its logged version is returned. The fast
// path is one ZADD NX per catalog; only when it added fewer members than it
// was given (or a version overflowed) does the script look the members up.
// A skipped member may leave a gap in the versions, which is harmless: they
// only need to increase.
//
// KEYS: head hash and log sorted set of each catalog, in pairs.
// ARGV: for each catalog in KEYS order, the number of its members, then the
// members. Returns one number per member, in ARGV order: its version, or -1
// when the version would pass 2^53-1 (that member is not committed).
const scriptCommit = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
local a = 1
for k = 1, #KEYS, 2 do
  local head, log = KEYS[k], KEYS[k + 1]
  local n = tonumber(ARGV[a])
  local first = a + 1
  a = first + n
  local before = tonumber(redis.call('HGET', head, 'version') or '0')
  local last = before
  local versions = {}
  local add = {}
  local overflow = false
  local first_added = 0
  for i = 1, n do
    local v = now
    if v <= last then v = last + 1 end
    if v > 9007199254740991 then
      v = -1
      overflow = true
    else
      if first_added == 0 then first_added = v end
      last = v
      add[#add + 1] = string.format('%d', v)
      add[#add + 1] = ARGV[first + i - 1]
    end
    versions[i] = v
  end
  local added = 0
  if #add > 0 then
    added = redis.call('ZADD', log, 'NX', unpack(add))
  end
  if overflow or added < #add / 2 then
    -- The head moves only as far as the members this call really added:
    -- a retry alone changes nothing.
    local logged = redis.call('ZMSCORE', log, unpack(ARGV, first, first + n - 1))
    last = before
    for i = 1, n do
      if logged[i] then
        versions[i] = tonumber(logged[i])
        if versions[i] > last then last = versions[i] end
      end
    end
  end
  if last > before then
    if before == 0 then
      -- This call creates the head: its first version is the log's epoch.
      redis.call('HSET', head, 'version', string.format('%d', last), 'epoch', string.format('%d', first_added))
    else
      redis.call('HSET', head, 'version', string.format('%d', last))
    end
  end
  for i = 1, n do out[#out + 1] = versions[i] end
end
return out
`

// A head is created by the first call that adds a member; that call also
// records the log's epoch, the first version it allocated, so that a head
// recreated after Redis lost its data is told apart from the old one.
//
// scriptRead reads a batch of catalogs (concurrent reads of one process go
// to Redis together). For each read it returns the catalog's head, the number
// of log entries after the snapshot, the version the returned entries start
// after ("from": the read's after when it is at or past the snapshot, or
// behind it by at most ARGV[1] entries; else the snapshot's) and the log
// entries after it. The whole batch is one atomic step.
//
// KEYS: head hash and log sorted set of each read, in pairs.
// ARGV[1]: the catch-up limit; ARGV[1+i]: read i's after.
// Returns one {version, snap_version, snap_key, {member, score, ...},
// pending, from, epoch, removals} per read, in order.
const scriptRead = `
local limit = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS / 2 do
  local head, log = KEYS[2 * i - 1], KEYS[2 * i]
  local h = redis.call('HMGET', head, 'version', 'snap_version', 'snap_key', 'epoch', 'removals')
  local snap = tonumber(h[2] or '0')
  local snaps = string.format('%d', snap)
  local after = tonumber(ARGV[i + 1])
  local afters = string.format('%d', after)
  local from = snap
  if after >= snap or (after > 0 and redis.call('ZCOUNT', log, '(' .. afters, snaps) <= limit) then
    from = after
  end
  local entries = redis.call('ZRANGEBYSCORE', log, '(' .. string.format('%d', from), '+inf', 'WITHSCORES')
  local pending = #entries / 2
  if from ~= snap then
    pending = redis.call('ZCOUNT', log, '(' .. snaps, '+inf')
  end
  out[i] = {h[1] or '0', snaps, h[3] or '', entries, pending, string.format('%d', from), h[4] or '0', h[5] or '0'}
end
return out
`

// scriptSaveSnapshot moves the snapshot pointer forward only, and only
// while the head's lineage (epoch and removal count) is the one the
// snapshot was folded under.
//
// KEYS[1] head hash; ARGV[1] version, ARGV[2] object key, ARGV[3] epoch,
// ARGV[4] removals.
// Returns 1 if the pointer is now (ARGV[1], ARGV[2]) because of this call or
// an earlier attempt of it, 0 if the current pointer is as new or newer or
// the lineage changed.
const scriptSaveSnapshot = `
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
return 1
`

// scriptRemove takes one entry out of a catalog's log: the member at score
// ARGV[1] whose delta ID (query-escaped) is ARGV[2], and counts the removal
// in the head, so that a snapshot folded before it is not saved after it.
//
// KEYS[1] head hash, KEYS[2] log sorted set.
// Returns 1 when the entry was removed, 0 when there is none.
const scriptRemove = `
local members = redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[1], ARGV[1])
local want = '|' .. ARGV[2] .. '|'
for _, m in ipairs(members) do
  if string.sub(m, 3, 2 + #want) == want then
    redis.call('ZREM', KEYS[2], m)
    redis.call('HINCRBY', KEYS[1], 'removals', 1)
    return 1
  end
end
return 0
`
