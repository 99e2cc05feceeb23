package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

var (
	_ Storage = (*Local)(nil)
	_ Ranger  = (*Local)(nil)
	_ Lister  = (*Local)(nil)
)

// localTempPrefix begins the name of a file Put has not renamed into place
// yet; List does not report such files.
const localTempPrefix = ".tmp-"

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
	tmp, err := os.CreateTemp(dir, localTempPrefix+"*")
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

// List returns up to limit objects whose keys start with prefix and sort
// after after, in byte order (see Lister), each with its file's size. It
// reads only the directory prefix reaches (up to its last slash) and the
// directories below it that can hold a wanted key. Put's temporary files and
// anything that is not a regular file or a directory are not keys; a missing
// directory holds none, and a file deleted while List runs is left out.
func (l *Local) List(ctx context.Context, prefix, after string, limit int) ([]Object, error) {
	if err := beginList(ctx, prefix, limit); err != nil {
		return nil, err
	}
	dir := prefix[:strings.LastIndexByte(prefix, '/')+1] // "" or ends with "/"
	objects := make([]Object, 0, min(limit, 1024))
	if err := l.list(ctx, dir, prefix, after, limit, &objects); err != nil {
		return nil, err
	}
	return objects, nil
}

// list appends to objects, in byte order, the objects under the directory
// whose key is dir ("" for the root, else ending in "/") whose keys start
// with prefix and sort after after, until objects holds limit.
//
// A directory's entries are sorted by their keys, a subdirectory's being
// its name and "/", since the byte order of keys is not that of names: key
// "a.b" sorts before "a/b" ('.' < '/') though name "a" sorts before "a.b".
func (l *Local) list(ctx context.Context, dir, prefix, after string, limit int, objects *[]Object) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := os.ReadDir(filepath.Join(l.root, filepath.FromSlash(dir)))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil // nothing stored there, or a key where prefix wants a directory
	}
	if err != nil {
		return fmt.Errorf("storage: list %q: %w", prefix, err)
	}
	type entry struct {
		key string
		fs.DirEntry
	}
	sorted := make([]entry, 0, len(entries))
	for _, e := range entries {
		key := dir + e.Name()
		switch {
		case e.IsDir():
			key += "/"
			// Every key below sorts after key and starts with it: skip the
			// directory when none of them can start with prefix or sort
			// after after.
			if !strings.HasPrefix(key, prefix) && !strings.HasPrefix(prefix, key) ||
				key < after && !strings.HasPrefix(after, key) {
				continue
			}
		case !e.Type().IsRegular(), strings.HasPrefix(e.Name(), localTempPrefix),
			key <= after, !strings.HasPrefix(key, prefix):
			continue
		}
		sorted = append(sorted, entry{key, e})
	}
	slices.SortFunc(sorted, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	for _, e := range sorted {
		if len(*objects) == limit {
			return nil
		}
		if e.IsDir() {
			if err := l.list(ctx, e.key, prefix, after, limit, objects); err != nil {
				return err
			}
			continue
		}
		obj, ok, err := localObject(e.key, e.DirEntry)
		if err != nil {
			return fmt.Errorf("storage: list %q: %w", prefix, err)
		}
		if ok {
			*objects = append(*objects, obj)
		}
	}
	return nil
}

// localObject returns the Object for key, held by the regular file e of a
// directory read earlier. ok is false when the file has gone since (a
// concurrent Delete) or is no longer a regular file: it is not a key now.
// The size is read only here, so that List stats no more files than it
// returns.
func localObject(key string, e fs.DirEntry) (obj Object, ok bool, err error) {
	info, err := e.Info()
	if errors.Is(err, fs.ErrNotExist) {
		return Object{}, false, nil
	}
	if err != nil {
		return Object{}, false, err
	}
	if !info.Mode().IsRegular() {
		return Object{}, false, nil
	}
	return Object{Key: key, Size: info.Size()}, true, nil
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
