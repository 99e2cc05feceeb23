package lake

import (
	"cmp"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hkloudou/lake/v2/merge"
)

// Defaults of the document cache (Option.CacheSize, Option.CacheBytes).
const (
	// DefaultCacheSize is how many catalogs' documents a client keeps
	// folded in memory.
	DefaultCacheSize = 1024
	// DefaultCacheBytes bounds their estimated memory.
	DefaultCacheBytes = 128 << 20
)

// cachedCostFactor estimates a cached document's memory from its JSON size:
// the text itself plus the decoded tree the next fold starts from, which
// takes about twice the text for documents of ordinary shape.
const cachedCostFactor = 3

// documentCache keeps the documents this client last folded, so that a read
// of an unchanged catalog costs one small meta-store round trip and nothing
// else, and a read of a changed one fetches only the deltas it has not seen.
// It is exact, not a staleness trade-off: every read still asks the meta
// store for the deltas after the cached version, and a delta at or below a
// version a reader has seen can never appear later (versions are allocated
// and committed in one atomic step). The reader also checks that the log is
// still the one the document was folded from (its epoch and removals).
//
// It holds at most maxDocs documents and about maxBytes of memory, and
// drops the least recently read first. Reads only take the read lock and
// stamp the entry with a counter, so that many readers of a hot document do
// not queue on one lock; the stamps are sorted only when a put must evict.
type documentCache struct {
	mu       sync.RWMutex
	maxDocs  int
	maxBytes int64
	bytes    int64
	docs     map[string]*cacheEntry
	clock    atomic.Int64 // the last stamp given to an entry
}

type cacheEntry struct {
	doc  *cachedDocument
	cost int64
	used atomic.Int64 // clock stamp of the last read or put
}

// cachedDocument is immutable once stored: readers clone doc before folding.
type cachedDocument struct {
	version int64
	// epoch and removals are the catalog head's lineage the document was
	// folded under: a head with another lineage (a reset meta store, a
	// removed entry) makes the document unjustified.
	epoch, removals int64
	doc             map[string]any
	// members is the document's JSON text (members.Text, what reads return)
	// with each top-level member's place in it, so that the next fold
	// encodes only the members it changed.
	members *merge.Members
	// skipped are the deltas the fold behind doc could not apply.
	skipped []SkippedDelta
}

func newDocumentCache(maxDocs int, maxBytes int64) *documentCache {
	return &documentCache{maxDocs: maxDocs, maxBytes: maxBytes, docs: make(map[string]*cacheEntry)}
}

func (c *documentCache) enabled() bool { return c.maxDocs > 0 && c.maxBytes > 0 }

func (c *documentCache) get(catalog string) *cachedDocument {
	if !c.enabled() {
		return nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.docs[catalog]
	if !ok {
		return nil
	}
	e.used.Store(c.clock.Add(1))
	return e.doc
}

// put keeps d unless the cache already holds a newer version of catalog
// from the same lineage, evicting the least recently used documents to make
// room. A document larger than the whole bound is not kept.
func (c *documentCache) put(catalog string, d *cachedDocument) {
	if !c.enabled() {
		return
	}
	cost := int64(cachedCostFactor*len(d.members.Text)) + 512
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.docs[catalog]; ok {
		old := e.doc
		if old.version >= d.version && old.epoch == d.epoch && old.removals == d.removals {
			return
		}
		c.remove(catalog)
	}
	if cost > c.maxBytes {
		return
	}
	if len(c.docs) >= c.maxDocs || c.bytes+cost > c.maxBytes {
		c.evict(cost)
	}
	e := &cacheEntry{doc: d, cost: cost}
	e.used.Store(c.clock.Add(1))
	c.docs[catalog] = e
	c.bytes += cost
}

// evict drops the least recently used documents until one more document of
// cost fits. The caller holds the write lock.
func (c *documentCache) evict(cost int64) {
	names := slices.Collect(maps.Keys(c.docs))
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(c.docs[a].used.Load(), c.docs[b].used.Load()) })
	for _, name := range names {
		if len(c.docs) < c.maxDocs && c.bytes+cost <= c.maxBytes {
			return
		}
		c.remove(name)
	}
}

// drop forgets catalog's document.
func (c *documentCache) drop(catalog string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.remove(catalog)
}

// clear forgets every document.
func (c *documentCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.docs)
	c.bytes = 0
}

func (c *documentCache) remove(catalog string) {
	if e, ok := c.docs[catalog]; ok {
		delete(c.docs, catalog)
		c.bytes -= e.cost
	}
}
