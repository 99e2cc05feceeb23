package lake

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hkloudou/lake/v2/index"
	"github.com/hkloudou/lake/v2/merge"
)

// ScriptInfo describes a registered merge script.
type ScriptInfo struct {
	Name string
	// Hash identifies this version of the script (hex SHA-256 of Source).
	Hash string
	// Source is empty in the list returned by Scripts.
	Source string
}

// PutScript compiles source, checks that it defines function merge, and
// registers it under name for every client of the lake. Writes from then on
// use this version; deltas written earlier keep merging with the version
// they were written against, so every reader folds the same history to the
// same document.
func (c *Client) PutScript(ctx context.Context, name, source string) error {
	script, err := c.engine.Compile(name, source)
	if err != nil {
		return fmt.Errorf("lake: put script: %w", err)
	}
	idx, s, err := c.ready(ctx)
	if err != nil {
		return fmt.Errorf("lake: put script %q: %w", name, err)
	}
	if s.holder == "" {
		// A copy in the bucket first, so that `lake recover` finds the
		// source of every script a delta names, and the name's last target.
		if err := s.store.Put(ctx, scriptSourceKey(script.Hash), []byte(source)); err != nil {
			return fmt.Errorf("lake: put script %q: %w", name, storageError(err))
		}
		if err := s.store.Put(ctx, scriptNameKey(name), []byte(script.Hash)); err != nil {
			return fmt.Errorf("lake: put script %q: %w", name, storageError(err))
		}
	}
	if err := idx.PutScript(ctx, name, script.Hash, source); err != nil {
		return fmt.Errorf("lake: put script %q: %w", name, err)
	}
	c.scripts.Store(script.Hash, script)
	return nil
}

// GetScript returns the version of the script that name points at now.
func (c *Client) GetScript(ctx context.Context, name string) (*ScriptInfo, error) {
	idx, err := c.index(ctx)
	if err != nil {
		return nil, fmt.Errorf("lake: get script %q: %w", name, err)
	}
	hash, err := c.scriptHash(ctx, idx, name)
	if err != nil {
		return nil, fmt.Errorf("lake: get script: %w", err)
	}
	source, err := idx.ScriptSource(ctx, hash)
	if err != nil {
		return nil, fmt.Errorf("lake: get script %q: %w", name, err)
	}
	return &ScriptInfo{Name: name, Hash: hash, Source: source}, nil
}

// Scripts lists the registered scripts by name, without their sources.
func (c *Client) Scripts(ctx context.Context) ([]ScriptInfo, error) {
	idx, err := c.index(ctx)
	if err != nil {
		return nil, fmt.Errorf("lake: list scripts: %w", err)
	}
	named, err := idx.Scripts(ctx)
	if err != nil {
		return nil, fmt.Errorf("lake: list scripts: %w", err)
	}
	list := make([]ScriptInfo, 0, len(named))
	for name, hash := range named {
		list = append(list, ScriptInfo{Name: name, Hash: hash})
	}
	slices.SortFunc(list, func(a, b ScriptInfo) int { return strings.Compare(a.Name, b.Name) })
	return list, nil
}

// DeleteScript unregisters name: later writes cannot use it. Its sources are
// kept, because deltas written with them must fold the same way forever; a
// deleted name can be registered again.
func (c *Client) DeleteScript(ctx context.Context, name string) error {
	idx, err := c.index(ctx)
	if err != nil {
		return fmt.Errorf("lake: delete script %q: %w", name, err)
	}
	if err := idx.DeleteScript(ctx, name); err != nil {
		return fmt.Errorf("lake: delete script %q: %w", name, err)
	}
	return nil
}

func (c *Client) scriptHash(ctx context.Context, idx index.Index, name string) (string, error) {
	hash, err := idx.ScriptHash(ctx, name)
	if errors.Is(err, index.ErrNotFound) {
		return "", fmt.Errorf("%w: %q", ErrScriptNotFound, name)
	}
	return hash, err
}

// scriptRef is what a delta records: the name (for messages) and the hash
// (the exact source).
func scriptRef(name, hash string) string { return name + "@" + hash }

// loadScript returns the compiled script a delta refers to. Sources are
// immutable, so a compiled script is cached for the client's lifetime.
func (c *Client) loadScript(ctx context.Context, idx index.Index, ref string) (*merge.Script, error) {
	name, hash, ok := strings.Cut(ref, "@")
	if !ok || hash == "" {
		return nil, fmt.Errorf("%w: script reference %q", ErrCorrupt, ref)
	}
	if s, ok := c.scripts.Load(hash); ok {
		return s.(*merge.Script), nil
	}
	v, err, _ := c.scriptLoads.Do(hash, func() (any, error) {
		source, err := idx.ScriptSource(ctx, hash)
		if errors.Is(err, index.ErrNotFound) {
			return nil, fmt.Errorf("%w: the source of script %s is missing", ErrCorrupt, ref)
		}
		if err != nil {
			return nil, err
		}
		script, err := c.engine.Compile(name, source)
		if err != nil {
			return nil, fmt.Errorf("%w: stored script %s: %w", ErrCorrupt, ref, err)
		}
		if script.Hash != hash {
			return nil, fmt.Errorf("%w: the source stored for script %s has hash %s", ErrCorrupt, ref, script.Hash)
		}
		c.scripts.Store(hash, script)
		return script, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*merge.Script), nil
}

// The bucket's copies of merge scripts: sources by hash, names by name. No
// catalog name starts with '.', so no catalog's objects list under them.
const (
	scriptSourcePrefix = ".scripts/sources/"
	scriptNamePrefix   = ".scripts/names/"
)

func scriptSourceKey(hash string) string { return scriptSourcePrefix + hash + ".js" }

// scriptNameKey holds the hash name points at; the suffix keeps the names
// "." and ".." (valid script names) from being path segments of their own.
func scriptNameKey(name string) string { return scriptNamePrefix + name + ".hash" }
