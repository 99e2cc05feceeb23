package lake

import (
	"container/list"
	"sync"

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
// still the one the document was folded from (cachedDocument.lineage).
//
// It holds at most maxDocs documents and about maxBytes of memory, and
// drops the least recently read first.
type documentCache struct {
	mu       sync.Mutex
	maxDocs  int
	maxBytes int64
	bytes    int64
	docs     map[string]*list.Element // of *cacheEntry
	order    *list.List               // front: most recently used
}

type cacheEntry struct {
	catalog string
	doc     *cachedDocument
	cost    int64
}

// cachedDocument is immutable once stored: readers clone doc before folding.
type cachedDocument struct {
	version int64
	// lineage is the catalog head's epoch and removal count the document
	// was folded under: a head with another lineage (a reset meta store, a
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
	return &documentCache{maxDocs: maxDocs, maxBytes: maxBytes, docs: make(map[string]*list.Element), order: list.New()}
}

func (c *documentCache) enabled() bool { return c.maxDocs > 0 && c.maxBytes > 0 }

func (c *documentCache) get(catalog string) *cachedDocument {
	if !c.enabled() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.docs[catalog]
	if !ok {
		return nil
	}
	c.order.MoveToFront(el)
	return el.Value.(*cacheEntry).doc
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
	if el, ok := c.docs[catalog]; ok {
		old := el.Value.(*cacheEntry).doc
		if old.version >= d.version && old.epoch == d.epoch && old.removals == d.removals {
			return
		}
		c.remove(el)
	}
	if cost > c.maxBytes {
		return
	}
	for c.order.Len() > 0 && (c.order.Len() >= c.maxDocs || c.bytes+cost > c.maxBytes) {
		c.remove(c.order.Back())
	}
	c.docs[catalog] = c.order.PushFront(&cacheEntry{catalog: catalog, doc: d, cost: cost})
	c.bytes += cost
}

// drop forgets catalog's document.
func (c *documentCache) drop(catalog string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.docs[catalog]; ok {
		c.remove(el)
	}
}

// clear forgets every document.
func (c *documentCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.docs)
	c.order.Init()
	c.bytes = 0
}

func (c *documentCache) remove(el *list.Element) {
	e := c.order.Remove(el).(*cacheEntry)
	delete(c.docs, e.catalog)
	c.bytes -= e.cost
}
