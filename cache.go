package lake

import (
	"sync"

	"github.com/hkloudou/lake/v2/merge"
)

// DefaultCacheSize is how many catalogs' documents a client keeps folded in
// memory (Option.CacheSize).
const DefaultCacheSize = 1024

// documentCache keeps the documents this client last folded, so that a read
// of an unchanged catalog costs one small meta-store round trip and nothing
// else, and a read of a changed one fetches only the deltas it has not seen.
// It is exact, not a staleness trade-off: every read still asks the meta
// store for the deltas after the cached version, and a delta at or below a
// version a reader has seen can never appear later (versions are allocated
// and committed in one atomic step).
type documentCache struct {
	mu   sync.RWMutex
	max  int
	docs map[string]*cachedDocument
}

// cachedDocument is immutable once stored: readers clone doc before folding.
type cachedDocument struct {
	version int64
	doc     map[string]any
	// members is the document's JSON text (members.Text, what reads return)
	// with each top-level member's place in it, so that the next fold
	// encodes only the members it changed.
	members *merge.Members
	// skipped are the deltas the fold behind doc could not apply.
	skipped []SkippedDelta
}

func newDocumentCache(max int) *documentCache {
	return &documentCache{max: max, docs: make(map[string]*cachedDocument)}
}

func (c *documentCache) get(catalog string) *cachedDocument {
	if c.max <= 0 {
		return nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.docs[catalog]
}

// put keeps d unless the cache already holds a newer version of catalog.
// When full it drops an arbitrary entry: simple, and fair enough for a cache
// whose misses cost one snapshot fetch.
func (c *documentCache) put(catalog string, d *cachedDocument) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.docs[catalog]; ok && old.version >= d.version {
		return
	}
	if _, ok := c.docs[catalog]; !ok && len(c.docs) >= c.max {
		for name := range c.docs {
			delete(c.docs, name)
			break
		}
	}
	c.docs[catalog] = d
}
