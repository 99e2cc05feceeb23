package lake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hkloudou/lake/v2/index"
	"github.com/hkloudou/lake/v2/merge"
	"github.com/hkloudou/lake/v2/storage"
)

// snapshotEnvelope is the most a snapshot object adds around its document.
const snapshotEnvelope = 64

// encodeSnapshot returns what a snapshot object holds:
// {"version":V,"document":{...}}. The document is compact JSON from
// merge.Encode already; json.Marshal would scan and compact it again.
func encodeSnapshot(version int64, document []byte) []byte {
	body := make([]byte, 0, len(document)+48)
	body = append(body, `{"version":`...)
	body = strconv.AppendInt(body, version, 10)
	body = append(body, `,"document":`...)
	body = append(body, document...)
	return append(body, '}')
}

// errSnapshotInProgress is the SaveError of a read that found another save of
// the same catalog running in this client.
var errSnapshotInProgress = errors.New("a snapshot of this catalog is already being saved by this client")

// snapshotSaveTimeout bounds a background snapshot save, which no caller's
// context bounds.
const snapshotSaveTimeout = time.Minute

// snapshot saves res as the catalog's snapshot, now or in the background
// (Option.SnapshotAsync), and records the outcome in res.Snapshot. At most
// one save per catalog runs at a time in this client; a read that finds one
// running does not wait for it. The save only lands while the catalog's
// lineage is still the one res was folded under.
func (c *Client) snapshot(ctx context.Context, idx index.Index, store storage.Storage, catalog string, lineage index.Lineage, res *ReadResult) {
	if _, running := c.snapshotting.LoadOrStore(catalog, struct{}{}); running {
		res.Snapshot.SaveError = errSnapshotInProgress
		return
	}
	if !c.opt.SnapshotAsync {
		defer c.snapshotting.Delete(catalog)
		res.Snapshot.Saved, res.Snapshot.SaveError = c.saveSnapshot(ctx, idx, store, catalog, res.Version, res.Data, lineage)
		if res.Snapshot.SaveError != nil {
			c.opt.Logger.Warn("lake: snapshot not saved", "catalog", catalog,
				"version", res.Version, "error", res.Snapshot.SaveError)
		}
		return
	}
	c.savesMu.Lock()
	defer c.savesMu.Unlock()
	if c.closed.Load() {
		c.snapshotting.Delete(catalog)
		res.Snapshot.SaveError = ErrClosed
		return
	}
	c.saves.Add(1)
	res.Snapshot.Saving = true
	version, data := res.Version, res.Data
	go func() {
		defer c.saves.Done()
		defer c.snapshotting.Delete(catalog)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), snapshotSaveTimeout)
		defer cancel()
		if _, err := c.saveSnapshot(ctx, idx, store, catalog, version, data, lineage); err != nil {
			c.opt.Logger.Warn("lake: snapshot not saved", "catalog", catalog, "version", version, "error", err)
		}
	}()
}

func (c *Client) loadSnapshot(ctx context.Context, store storage.Storage, p index.SnapshotPointer) (any, error) {
	raw, err := store.Get(ctx, p.Key)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", p.Key, storageError(err))
	}
	if int64(len(raw)) > c.opt.MaxDocumentSize+snapshotEnvelope {
		return nil, fmt.Errorf("%w: snapshot %s is %d bytes, the limit is %d (Option.MaxDocumentSize)",
			ErrDocumentTooLarge, p.Key, len(raw), c.opt.MaxDocumentSize)
	}
	// One decode of the whole object: the document is most of it.
	decoded, err := merge.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: snapshot %s: %w", ErrCorrupt, p.Key, err)
	}
	body, _ := decoded.(map[string]any)
	number, _ := body["version"].(json.Number)
	version, err := number.Int64()
	if err != nil {
		return nil, fmt.Errorf("%w: snapshot %s has no integer version", ErrCorrupt, p.Key)
	}
	if version != p.Version {
		return nil, fmt.Errorf("%w: snapshot %s holds version %d, the pointer says %d", ErrCorrupt, p.Key, version, p.Version)
	}
	doc, isObject := body["document"].(map[string]any)
	if !isObject {
		return nil, fmt.Errorf("%w: snapshot %s does not hold a JSON object", ErrCorrupt, p.Key)
	}
	return doc, nil
}

// saveSnapshot stores data as the catalog's snapshot at version and moves
// the pointer to it if no newer snapshot got there first.
func (c *Client) saveSnapshot(ctx context.Context, idx index.Index, store storage.Storage, catalog string, version int64, data JSON, lineage index.Lineage) (bool, error) {
	body := encodeSnapshot(version, data)
	p := index.SnapshotPointer{Version: version, Key: snapshotKey(catalog, version)}
	if err := store.Put(ctx, p.Key, body); err != nil {
		return false, storageError(err)
	}
	moved, err := idx.SaveSnapshot(ctx, catalog, p, lineage)
	if err != nil {
		return false, err
	}
	if !moved {
		// A newer snapshot won; this object is unreferenced.
		if err := store.Delete(ctx, p.Key); err != nil {
			c.opt.Logger.Debug("lake: could not delete unused snapshot", "key", p.Key, "error", err)
		}
	}
	return moved, nil
}
