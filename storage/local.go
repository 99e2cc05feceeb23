package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

var (
	_ Storage = (*Local)(nil)
	_ Ranger  = (*Local)(nil)
)

// Local keeps each object as one file under a root directory. Writes are
// atomic and durable: a temporary file is written and fsynced, renamed over
// the final name, and the directory is fsynced, so a crash leaves either the
// whole object or none of it. Files and directories are private to the owner.
type Local struct {
	root string
}

// NewLocalStorage returns a store rooted at dir. The directory is created on
// the first Put if it does not exist.
func NewLocalStorage(dir string) (*Local, error) {
	if dir == "" {
		return nil, errors.New("storage: local storage needs a directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: local directory %q: %w", dir, err)
	}
	return &Local{root: abs}, nil
}

// Root returns the absolute directory the store writes under.
func (l *Local) Root() string { return l.root }

func (l *Local) path(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return filepath.Join(l.root, filepath.FromSlash(key)), nil
}

// Put writes data to a temporary file beside the target and renames it into
// place once it is synced.
func (l *Local) Put(ctx context.Context, key string, data []byte) error {
	name, err := l.path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("storage: put %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("storage: put %s: %w", key, err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("storage: put %s: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("storage: put %s: sync: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("storage: put %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("storage: put %s: %w", key, err)
	}
	committed = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("storage: put %s: sync directory: %w", key, err)
	}
	return nil
}

// Get reads the file for key, or returns ErrNotFound.
func (l *Local) Get(ctx context.Context, key string) ([]byte, error) {
	name, err := l.path(key)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: get %s: %w", key, err)
	}
	return data, nil
}

// GetRange reads at most length bytes from offset of the file for key (see
// Ranger), or returns ErrNotFound. The buffer is sized by what the file
// holds, never by length alone.
func (l *Local) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	name, err := l.path(key)
	if err != nil {
		return nil, err
	}
	if skip, err := beginRange(ctx, key, offset, length); err != nil || skip {
		if err != nil {
			return nil, err
		}
		return []byte{}, nil
	}
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: get %s: %w", key, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("storage: get %s: %w", key, err)
	}
	if offset >= info.Size() {
		return []byte{}, nil
	}
	// Put renames a new file into place, so the open file keeps its size.
	buf := make([]byte, min(length, info.Size()-offset))
	n, err := f.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("storage: get %s: %w", key, err)
	}
	return buf[:n], nil
}

// Delete removes the file for key; a missing file is not an error.
func (l *Local) Delete(ctx context.Context, key string) error {
	name, err := l.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("storage: delete %s: %w", key, err)
	}
	return nil
}

func (l *Local) String() string { return "local" }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
