package index

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/redis/rueidis"
)

// The Redis settings Warnings reads, one CONFIG GET each (Redis 6.2 takes
// one parameter per CONFIG GET).
var safetySettings = []string{"maxmemory-policy", "appendonly", "appendfsync", "save"}

// Warnings reads the settings of every Redis primary that can lose the
// lake's keys: an eviction policy other than noeviction, and persistence
// that does not keep every acknowledged write across a restart. A server
// that refuses CONFIG (managed Redis often renames it) gives one Warning
// saying so; a server that cannot be reached is an error (ErrUnavailable).
func (r *redisIndex) Warnings(ctx context.Context) ([]Warning, error) {
	warnings := []Warning{}
	err := r.forEachPrimary(ctx, func(addr string, node rueidis.Client) error {
		found, err := nodeWarnings(ctx, node)
		if err != nil {
			return classify(fmt.Errorf("Redis node %s: %w", addr, err))
		}
		for _, w := range found {
			if r.cluster {
				w.Risk += " (cluster node " + addr + ")"
			}
			warnings = append(warnings, w)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return warnings, nil
}

// forEachPrimary runs fn on every node that holds keys, in address order:
// the server of a standalone Redis, each primary of a cluster (Warnings
// and Wipe). It stops at fn's first error.
func (r *redisIndex) forEachPrimary(ctx context.Context, fn func(addr string, node rueidis.Client) error) error {
	nodes := r.client.Nodes()
	addrs := make([]string, 0, len(nodes))
	for addr := range nodes {
		addrs = append(addrs, addr)
	}
	slices.Sort(addrs)
	for _, addr := range addrs {
		node := nodes[addr]
		if r.cluster {
			primary, err := isPrimary(ctx, node)
			if err != nil {
				return classify(fmt.Errorf("role of Redis node %s: %w", addr, err))
			}
			if !primary {
				continue
			}
		}
		if err := fn(addr, node); err != nil {
			return err
		}
	}
	return nil
}

// isPrimary asks a cluster node for its ROLE. A node that refuses ROLE is
// checked as if it were a primary.
func isPrimary(ctx context.Context, node rueidis.Client) (bool, error) {
	role, err := retryResult(ctx, func() rueidis.RedisResult {
		return node.Do(ctx, node.B().Role().Build())
	}).ToArray()
	if err != nil {
		if finalReply(err) {
			return true, nil
		}
		return false, err
	}
	if len(role) == 0 {
		return true, nil
	}
	kind, err := role[0].ToString()
	return err != nil || kind == "master", nil
}

// nodeWarnings checks one server's settings.
func nodeWarnings(ctx context.Context, node rueidis.Client) ([]Warning, error) {
	settings := make(map[string]string, len(safetySettings))
	for _, name := range safetySettings {
		values, err := retryResult(ctx, func() rueidis.RedisResult {
			return node.Do(ctx, node.B().ConfigGet().Parameter(name).Build())
		}).AsStrMap()
		if err != nil {
			if finalReply(err) {
				return []Warning{{Setting: "CONFIG GET " + name, Value: "refused",
					Risk: "cannot read Redis settings: " + err.Error() +
						"; make sure maxmemory-policy is noeviction and appendonly is yes (appendfsync everysec or always), " +
						"or Redis may lose acknowledged writes"}}, nil
			}
			return nil, err
		}
		// A setting the server does not show (a managed Redis may hide
		// some) is not checked.
		if v, ok := values[name]; ok {
			settings[name] = v
		}
	}
	var warnings []Warning
	if policy, ok := settings["maxmemory-policy"]; ok && policy != "noeviction" {
		warnings = append(warnings, Warning{Setting: "maxmemory-policy", Value: policy,
			Risk: "when Redis reaches maxmemory it may evict the lake's log and head keys and silently lose acknowledged writes; " +
				"set maxmemory-policy noeviction (writes then fail while memory is full, nothing is lost)"})
	}
	aof, hasAOF := settings["appendonly"]
	save, hasSave := settings["save"]
	switch {
	case hasAOF && aof == "no" && hasSave && save == "":
		warnings = append(warnings, Warning{Setting: "appendonly", Value: `no (and save "")`,
			Risk: "Redis persists nothing: a restart loses the whole index (every catalog's log and snapshot pointer); " +
				"set appendonly yes with appendfsync everysec or always"})
	case hasAOF && aof == "no" && hasSave:
		warnings = append(warnings, Warning{Setting: "appendonly", Value: `no (save "` + save + `")`,
			Risk: "Redis persists only RDB snapshots: a restart or crash loses the writes acknowledged since the last one; " +
				"set appendonly yes with appendfsync everysec or always"})
	case hasAOF && aof == "yes" && settings["appendfsync"] == "no":
		warnings = append(warnings, Warning{Setting: "appendfsync", Value: "no",
			Risk: "the operating system decides when the append-only file reaches the disk (about every 30 s): " +
				"a machine crash loses the writes acknowledged since; set appendfsync everysec or always"})
	}
	return warnings, nil
}

// finalReply reports whether err is an error reply from the server that
// waiting will not change (an unknown or forbidden command), as opposed to
// a network error or a transient reply.
func finalReply(err error) bool {
	var reply *rueidis.RedisError
	if !errors.As(err, &reply) || reply.IsNil() {
		return false
	}
	_, transient := transientReply(err)
	return !transient
}
