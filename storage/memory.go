package storage

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"
)

var (
	_ Storage  = (*Memory)(nil)
	_ Volatile = (*Memory)(nil)
	_ Ranger   = (*Memory)(nil)
	_ Lister   = (*Memory)(nil)
)

// Memory keeps objects in the process's memory. Bodies do not survive the
// process and are invisible to other processes: a second process that shares
// the meta store sees the index entries but gets ErrNotFound for the bodies.
// It is the fallback when no storage is configured, and handy in tests.
type Memory struct {
	id      string
	mu      sync.RWMutex
	objects map[string][]byte
}

// NewMemoryStorage returns an empty in-process object store.
func NewMemoryStorage() *Memory {
	return &Memory{id: "mem-" + uuid.NewString(), objects: make(map[string][]byte)}
}

// Holder names this store among all memory stores of all processes (see
// Volatile).
func (m *Memory) Holder() string { return m.id }

// Put stores a private copy of data under key.
func (m *Memory) Put(ctx context.Context, key string, data []byte) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	stored := append([]byte(nil), data...)
	m.mu.Lock()
	m.objects[key] = stored
	m.mu.Unlock()
	return nil
}

// Get returns a copy of the bytes under key, or ErrNotFound.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	data, ok := m.objects[key]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return append([]byte(nil), data...), nil
}

// GetRange returns a copy of at most length bytes from offset of the object
// under key (see Ranger), or ErrNotFound.
func (m *Memory) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	if skip, err := beginRange(ctx, key, offset, length); err != nil || skip {
		if err != nil {
			return nil, err
		}
		return []byte{}, nil
	}
	m.mu.RLock()
	data, ok := m.objects[key]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if offset >= int64(len(data)) {
		return []byte{}, nil
	}
	return append([]byte(nil), data[offset:min(offset+length, int64(len(data)))]...), nil
}

// Delete removes key; a missing key is not an error.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.objects, key)
	m.mu.Unlock()
	return nil
}

// List returns up to limit objects whose keys start with prefix and sort
// after after, in byte order (see Lister); an object's size is the length
// of the bytes stored.
func (m *Memory) List(ctx context.Context, prefix, after string, limit int) ([]Object, error) {
	if err := beginList(ctx, prefix, limit); err != nil {
		return nil, err
	}
	var objects []Object
	m.mu.RLock()
	for k, data := range m.objects {
		if k > after && strings.HasPrefix(k, prefix) {
			objects = append(objects, Object{Key: k, Size: int64(len(data))})
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(objects, func(a, b Object) int { return strings.Compare(a.Key, b.Key) })
	return objects[:min(limit, len(objects))], nil
}

// Len reports how many objects are stored.
func (m *Memory) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.objects)
}

// Keys returns the stored keys in sorted order.
func (m *Memory) Keys() []string {
	m.mu.RLock()
	keys := make([]string, 0, len(m.objects))
	for k := range m.objects {
		keys = append(keys, k)
	}
	m.mu.RUnlock()
	slices.Sort(keys)
	return keys
}

func (m *Memory) String() string { return "memory" }
