-- commit.lua commits a batch of deltas to one or more catalogs (group
-- commit: the concurrent writes of one process go to Redis together). For
-- each catalog it allocates the next versions and appends one entry per
-- delta to the log, in the order given. A version is Redis TIME in
-- microseconds, but never at or below the catalog's last version, so
-- versions are strictly increasing even when the clock steps back or when
-- many commits land within one microsecond.
--
-- A member that is already in the log (a retried commit, or one delta twice
-- in a batch) is not added again: its logged version is returned. The fast
-- path is one ZADD NX per catalog; only when it added fewer members than it
-- was given (or a version overflowed) does the script look the members up.
-- A skipped member may leave a gap in the versions, which is harmless: they
-- only need to increase.
--
-- A head is created by the first call that adds a member; that call also
-- records the log's epoch, the first version it allocated, so that a head
-- recreated after Redis lost its data is told apart from the old one. A
-- catalog that was deleted (delete_catalog.lua) starts above its deletion
-- version, which the head hash keeps as "gone".
--
-- KEYS: head hash and log sorted set of each catalog, in pairs.
-- ARGV: for each catalog in KEYS order, the number of its members, then the
-- members. Returns one number per member, in ARGV order: its version, or -1
-- when the version would pass 2^53-1 (that member is not committed).
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
  local floor = before
  if before == 0 then floor = tonumber(redis.call('HGET', head, 'gone') or '0') end
  local last = floor
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
    last = floor
    for i = 1, n do
      if logged[i] then
        versions[i] = tonumber(logged[i])
        if versions[i] > last then last = versions[i] end
      end
    end
  end
  if last > floor then
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
