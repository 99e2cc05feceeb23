package index

import (
	_ "embed"

	"github.com/redis/rueidis"
)

// The Redis engine's Lua, one file per call under lua/, each with its KEYS,
// ARGV and reply described at its top. (In this package "script" means a
// merge script, the JavaScript a lake stores; the Redis side is "Lua".)
//
// Redis Lua turns numbers into strings with "%.14g", which would round a
// 16-digit version; every number that goes back to Redis is formatted with
// string.format('%d') instead. Versions stay below 2^53, where a Lua double
// is exact.
var (
	// luaCommitSource allocates versions and appends a batch of deltas to
	// one or more catalogs' logs (group commit); a retried member keeps
	// its first version.
	//go:embed lua/commit.lua
	luaCommitSource string
	// luaReadSource reads a batch of catalogs: each one's head, its pending
	// count and its log entries after the snapshot (or the caller's after).
	//go:embed lua/read.lua
	luaReadSource string
	// luaSaveSnapshotSource moves a snapshot pointer forward only, and only
	// under the lineage it was folded under.
	//go:embed lua/save_snapshot.lua
	luaSaveSnapshotSource string
	// luaRemoveSource takes one entry out of a log and counts the removal
	// in the head.
	//go:embed lua/remove.lua
	luaRemoveSource string
	// The History calls, each described in its file.
	//go:embed lua/range.lua
	luaRangeSource string
	//go:embed lua/add_segment.lua
	luaAddSegmentSource string
	//go:embed lua/trim.lua
	luaTrimSource string
	//go:embed lua/lease.lua
	luaLeaseSource string
	//go:embed lua/release.lua
	luaReleaseSource string
	//go:embed lua/delete_catalog.lua
	luaDeleteCatalogSource string
	//go:embed lua/forget.lua
	luaForgetSource string
	//go:embed lua/restore.lua
	luaRestoreSource string
)

var (
	// Commits are idempotent (see Delta.ID), so rueidis may retry them.
	luaCommit       = rueidis.NewLuaScriptRetryable(luaCommitSource)
	luaRead         = rueidis.NewLuaScriptReadOnly(luaReadSource)
	luaSaveSnapshot = rueidis.NewLuaScript(luaSaveSnapshotSource)
	luaRemove       = rueidis.NewLuaScript(luaRemoveSource)
	luaRange        = rueidis.NewLuaScriptReadOnly(luaRangeSource)
	luaAddSegment   = rueidis.NewLuaScript(luaAddSegmentSource)
	luaTrim         = rueidis.NewLuaScript(luaTrimSource)
	luaLease        = rueidis.NewLuaScript(luaLeaseSource)
	luaRelease      = rueidis.NewLuaScript(luaReleaseSource)
	luaDelete       = rueidis.NewLuaScript(luaDeleteCatalogSource)
	luaForget       = rueidis.NewLuaScript(luaForgetSource)
	luaRestore      = rueidis.NewLuaScript(luaRestoreSource)
)
