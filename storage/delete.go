package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"
)

// BatchDeleter is implemented by a store that deletes many keys in few
// requests (S3: one DeleteObjects request per 1,000 keys; Encrypted passes
// it through). Garbage collection deletes through it.
type BatchDeleter interface {
	// DeleteMany removes keys; a missing key is not an error. The error
	// names how many keys it could not delete and why the first could
	// not; the others are gone.
	DeleteMany(ctx context.Context, keys []string) error
}

// DeleteMany calls s's DeleteMany when s is a BatchDeleter; any other
// store gets one Delete per key, at most concurrency at a time.
func DeleteMany(ctx context.Context, s Storage, keys []string, concurrency int) error {
	if b, ok := s.(BatchDeleter); ok {
		return b.DeleteMany(ctx, keys)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(concurrency, 1))
	var mu sync.Mutex
	var failed []error
	for _, key := range keys {
		g.Go(func() error {
			if err := s.Delete(gctx, key); err != nil {
				mu.Lock()
				failed = append(failed, err)
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	return deleteFailures(len(failed), failed)
}

// deleteFailures is DeleteMany's error for n keys that failed, the first
// of errs saying why (nil when none did).
func deleteFailures(n int, errs []error) error {
	if n == 0 {
		return nil
	}
	first := errs[0]
	if errors.Is(first, context.Canceled) || errors.Is(first, context.DeadlineExceeded) {
		return fmt.Errorf("storage: %d keys not deleted: %w", n, first)
	}
	return fmt.Errorf("%w: %d keys not deleted, first: %w", ErrUnavailable, n, first)
}
