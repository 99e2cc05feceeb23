package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hkloudou/lake/v2/storage"
)

// recordingStorage remembers the keys it stores, so that the benchmark can
// delete its bodies from the lake's configured storage.
type recordingStorage struct {
	inner storage.Storage
	mu    sync.Mutex
	keys  map[string]struct{}
}

func (r *recordingStorage) Put(ctx context.Context, key string, data []byte) error {
	r.mu.Lock()
	r.keys[key] = struct{}{}
	r.mu.Unlock()
	return r.inner.Put(ctx, key, data)
}

func (r *recordingStorage) Get(ctx context.Context, key string) ([]byte, error) {
	return r.inner.Get(ctx, key)
}

func (r *recordingStorage) Delete(ctx context.Context, key string) error {
	err := r.inner.Delete(ctx, key)
	if err == nil {
		r.mu.Lock()
		delete(r.keys, key)
		r.mu.Unlock()
	}
	return err
}

func (r *recordingStorage) String() string { return storage.Kind(r.inner) }

// deleteAll deletes every key stored and not yet deleted, 16 at a time; it
// returns how many it could not delete and the first error.
func (r *recordingStorage) deleteAll() (int, error) {
	r.mu.Lock()
	keys := make([]string, 0, len(r.keys))
	for k := range r.keys {
		keys = append(keys, k)
	}
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var (
		failed   atomic.Int64
		firstErr error
		once     sync.Once
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, 16)
	for _, k := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := r.inner.Delete(ctx, k); err != nil {
				failed.Add(1)
				once.Do(func() { firstErr = err })
			}
		})
	}
	wg.Wait()
	return int(failed.Load()), firstErr
}
