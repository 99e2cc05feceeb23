package index

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/rueidis"
)

// wipeBatch is how many keys one SCAN step of Wipe asks for, and so about
// how many UNLINKs go out in one pipeline.
const wipeBatch = 1000

// Wipe removes every key under the engine's prefix from every primary:
// SCAN MATCH <prefix>* on each, UNLINK of what it finds, a batch at a time.
// UNLINK frees the values in the background, so a large log does not block
// Redis. This process also forgets which catalogs it has listed, so its
// next commit lists its catalog again.
func (r *redisIndex) Wipe(ctx context.Context) error {
	if r.prefix == "" {
		return fmt.Errorf("%w: the Redis engine was opened without one, and a wipe would erase the server's keys", ErrNoKeyPrefix)
	}
	err := r.forEachPrimary(ctx, func(addr string, node rueidis.Client) error {
		if err := r.wipeNode(ctx, node); err != nil {
			return classify(fmt.Errorf("wipe %s* on Redis node %s: %w", r.prefix, addr, err))
		}
		return nil
	})
	r.listed.Clear()
	return err
}

// wipeNode removes the prefix's keys from one node. Each key is its own
// UNLINK (pipelined): in a cluster, a multi-key UNLINK across slots is
// refused (CROSSSLOT), and the client sends each key to its slot's owner.
func (r *redisIndex) wipeNode(ctx context.Context, node rueidis.Client) error {
	match := escapeGlob(r.prefix) + "*"
	for cursor := uint64(0); ; {
		entry, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(match).Count(wipeBatch).Build()).AsScanEntry()
		if err != nil {
			return err
		}
		cmds := make(rueidis.Commands, 0, len(entry.Elements))
		for _, key := range entry.Elements {
			if strings.HasPrefix(key, r.prefix) { // what MATCH found, checked once more
				cmds = append(cmds, r.client.B().Unlink().Key(key).Build())
			}
		}
		for _, res := range r.client.DoMulti(ctx, cmds...) {
			if err := res.Error(); err != nil {
				return err
			}
		}
		if cursor = entry.Cursor; cursor == 0 {
			return nil
		}
	}
}

// escapeGlob escapes the characters that Redis's glob patterns (SCAN MATCH)
// treat as special, so that a prefix such as "app*:" matches only itself.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch c {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}
