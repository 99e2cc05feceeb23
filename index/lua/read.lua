-- read.lua reads a batch of catalogs (concurrent reads of one process go
-- to Redis together). For each read it returns the catalog's head, the
-- number of log entries after the snapshot, the version the returned entries
-- start after ("from": the read's after when it is at or past the snapshot,
-- or behind it by at most ARGV[1] entries that are all still in the log;
-- else the snapshot's) and the log entries after it. The whole batch is one
-- atomic step.
--
-- KEYS: head hash and log sorted set of each read, in pairs.
-- ARGV[1]: the catch-up limit; ARGV[1+i]: read i's after.
-- Returns one {version, snap_version, snap_key, {member, score, ...},
-- pending, from, epoch, removals, archived, trimmed, gone} per read, in
-- order.
local limit = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS / 2 do
  local head, log = KEYS[2 * i - 1], KEYS[2 * i]
  local h = redis.call('HMGET', head, 'version', 'snap_version', 'snap_key', 'epoch', 'removals', 'archived', 'trimmed', 'gone')
  local snap = tonumber(h[2] or '0')
  local snaps = string.format('%d', snap)
  local after = tonumber(ARGV[i + 1])
  local afters = string.format('%d', after)
  local from = snap
  local trimmed = tonumber(h[7] or '0')
  if after >= snap or (after > 0 and after >= trimmed and redis.call('ZCOUNT', log, '(' .. afters, snaps) <= limit) then
    from = after
  end
  local entries = redis.call('ZRANGEBYSCORE', log, '(' .. string.format('%d', from), '+inf', 'WITHSCORES')
  local pending = #entries / 2
  if from ~= snap then
    pending = redis.call('ZCOUNT', log, '(' .. snaps, '+inf')
  end
  out[i] = {h[1] or '0', snaps, h[3] or '', entries, pending, string.format('%d', from), h[4] or '0', h[5] or '0', h[6] or '0', h[7] or '0', h[8] or '0'}
end
return out
