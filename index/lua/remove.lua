-- remove.lua takes one entry out of a catalog's log: the member at score
-- ARGV[1] whose delta ID (query-escaped) is ARGV[2], and counts the removal
-- in the head, so that a snapshot folded before it is not saved after it.
--
-- KEYS[1] head hash, KEYS[2] log sorted set.
-- Returns 1 when the entry was removed, 0 when there is none.
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
