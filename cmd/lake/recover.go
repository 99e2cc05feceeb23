package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"

	lake "github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/config"
	"github.com/hkloudou/lake/v2/storage"
)

func init() {
	register(&command{
		name:    "recover",
		summary: "rebuild a lost or emptied index from the object store",
		usage:   "recover [--config FILE] [--dry-run] [--force]",
		help: `Rebuilds the lake's index (its meta store) from the object store alone,
after the index lost its data. For each catalog the store holds:
  * its log segments, chained from the oldest, restore its log exactly, at
    the original versions, up to the archive's end: its recovery point, the
    "archived" version (the last compaction: lake compact, or lake serve's
    --compact-every);
  * its snapshots up to that point come back as its snapshot history;
  * deltas its packs hold that no segment does (written after the last
    compaction, or never committed: a pack cannot tell) are logged again
    after it, in the order of the writers' clocks, at new versions: best
    effort;
  * everything up to its last deletion (lake delete) stays deleted.
The merge scripts come back too: the store keeps a copy of each.

The index may have lost its config as well: --config FILE stores the
config in FILE (the fields lake config set takes; JSON text or - for stdin
work too) before the recovery, as lake config set --force would, and the
recovery reads the store it names. Without --config the stored config is
used. --dry-run prints what would be rebuilt and writes nothing, not even
the --config.

An index that still has catalogs is refused (exit 2, nothing written)
unless --force is given, which rebuilds only the catalogs the index lacks
and leaves the others as they are; the --config then must not move their
bodies to another store.

Prints one JSON line per catalog:
  {"name":"...","archived":N,"snapshot":N,"segments":N,"snapshots":N,"exact":N,"best_effort":N}
with "skipped":"why" when it was not rebuilt; then a summary on stderr:
the catalogs rebuilt, the deltas restored exactly and at best effort, and
the objects that could not be used, each with why.`,
		example: []string{
			`lake --meta redis://localhost:6379 recover --config lake-config.json --dry-run`,
			`lake --meta redis://localhost:6379 recover --config lake-config.json`,
			`lake --meta redis://localhost:6379 recover --force`,
		},
		setup: setupRecover,
	})
}

// recoverOptions are the flags of lake recover.
type recoverOptions struct {
	config        string // --config: JSON text, a file or -
	dryRun, force bool
}

func setupRecover(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
	var o recoverOptions
	fs.StringVar(&o.config, "config", "", "store the config in `FILE` (as lake config set takes it: JSON text and - for stdin too) first, and recover from its store")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print what would be rebuilt, and write nothing (not even --config)")
	fs.BoolVar(&o.force, "force", false, "recover onto an index that still has catalogs: rebuild only those it lacks")
	return func(ctx context.Context, args []string) error { return runRecover(ctx, a, o, args) }
}

// runRecover rebuilds the index from the object store and prints what it
// rebuilt.
func runRecover(ctx context.Context, a *app, o recoverOptions, args []string) error {
	if err := wantArgs(args, 0, 0, "no argument"); err != nil {
		return err
	}
	if a.storage == storageMemory {
		return usagef("--storage memory: a recovery reads the object store the lake's config names, and process memory holds nothing")
	}
	var cfg *config.Config
	if o.config != "" {
		var err error
		if cfg, err = readConfig(a, o.config); err != nil {
			return err
		}
	}
	var client *lake.Client
	switch {
	case cfg == nil:
		client = a.open()
	case o.dryRun:
		var err error
		if client, err = dryRunClient(ctx, a, cfg); err != nil {
			return err
		}
	default:
		client = a.open()
		if err := storeRecoveryConfig(ctx, a, client, cfg, o.force); err != nil {
			closeClient(a, client)
			return err
		}
	}
	defer closeClient(a, client)
	report, err := client.Recover(ctx, lake.RecoverOptions{DryRun: o.dryRun, Force: o.force})
	if err != nil {
		if cfg == nil && errors.Is(err, lake.ErrGCNotSupported) {
			if stored, gerr := client.GetConfig(ctx); gerr == nil && stored == nil {
				return usagef("no config is stored in the index, so the object store to recover from is unknown: give --config with the lake's config (as lake config set takes it)")
			}
		}
		return err
	}
	for _, rc := range report.Catalogs {
		line, err := json.Marshal(rc)
		if err != nil {
			return fmt.Errorf("lake: recover %q: %w", rc.Name, err)
		}
		fmt.Fprintln(a.stdout, string(line))
	}
	printRecoverSummary(a, report)
	return nil
}

// storeRecoveryConfig stores cfg before a recovery. On an empty index it
// is stored as config set --force would: there are no bodies for it to
// move. An index that still has catalogs is refused without force, before
// anything is written; with force, cfg must not move those catalogs'
// bodies.
func storeRecoveryConfig(ctx context.Context, a *app, client *lake.Client, cfg *config.Config, force bool) error {
	list, err := client.Catalogs(ctx, "", 1)
	if err != nil {
		return err
	}
	var update []lake.UpdateOption
	switch {
	case len(list) == 0:
		update = append(update, lake.ForceStorageChange())
	case !force:
		return fmt.Errorf("lake: recover: %w (%q and maybe more): nothing was written, not even the --config", lake.ErrIndexNotEmpty, list[0].Name)
	}
	if err := client.UpdateConfig(ctx, cfg, update...); err != nil {
		if errors.Is(err, lake.ErrStorageChange) {
			return usagef("--config names another object store than the config stored with the index's catalogs, whose bodies would be lost to it; " +
				"nothing was written (lake config set --force stores it anyway)")
		}
		return err
	}
	kind, _ := client.StorageKind(ctx)
	fmt.Fprintf(a.stderr, "lake recover: config stored (storage %s)\n", kind)
	return nil
}

// dryRunClient returns a client that reads the object store cfg names
// without storing cfg: cfg's store is given as Option.Storage.
func dryRunClient(ctx context.Context, a *app, cfg *config.Config) (*lake.Client, error) {
	resolved, err := cfg.Resolve(os.Getenv)
	if err != nil {
		return nil, err
	}
	plain, err := storage.Open(resolved)
	if err != nil {
		return nil, err
	}
	store := plain
	if resolved.AESPwd != "" {
		if store, err = storage.NewEncrypted(plain, resolved.AESPwd); err != nil {
			return nil, err
		}
	}
	client := a.open(func(o *lake.Option) { o.Storage = store })
	stored, err := client.GetConfig(ctx)
	if err != nil || stored == nil {
		if err != nil {
			closeClient(a, client)
			return nil, err
		}
		return client, nil
	}
	// A stored config's password also encrypts Option.Storage: the store
	// must then be given plain, and the passwords must be the same.
	storedPwd := stored.AESPwd
	if r, err := stored.Resolve(os.Getenv); err == nil {
		storedPwd = r.AESPwd
	}
	if storedPwd == "" {
		return client, nil
	}
	closeClient(a, client)
	if storedPwd != resolved.AESPwd {
		return nil, usagef("--dry-run --config: the config stored in the index encrypts with another password than the --config, " +
			"and a dry run does not replace it; dry-run without --config, or recover without --dry-run")
	}
	return a.open(func(o *lake.Option) { o.Storage = plain }), nil
}

// printRecoverSummary prints on stderr what the recovery rebuilt and what
// it could not use.
func printRecoverSummary(a *app, r *lake.RecoverReport) {
	var rebuilt, skipped, empty, exact, bestEffort int
	for _, rc := range r.Catalogs {
		switch {
		case rc.Skipped != "":
			skipped++
		case rc.Exact+rc.BestEffort+rc.Snapshots == 0:
			empty++ // deleted, or nothing of it usable
		default:
			rebuilt++
			exact += rc.Exact
			bestEffort += rc.BestEffort
		}
	}
	verb := "rebuilt"
	if r.DryRun {
		verb = "dry run, nothing written: would rebuild"
	}
	fmt.Fprintf(a.stderr, "lake recover: %s %d %s (%d skipped, %d with nothing to restore): %d %s exact, %d best effort; %d merge script %s; %d %s read\n",
		verb, rebuilt, plural(rebuilt, "catalog", "catalogs"), skipped, empty, exact, plural(exact, "delta", "deltas"), bestEffort,
		r.Scripts, plural(r.Scripts, "source", "sources"), r.Packs, plural(r.Packs, "pack", "packs"))
	if rebuilt > 0 {
		fmt.Fprintln(a.stderr, `lake recover: each catalog's log is exact up to its "archived" version, its recovery point; its best-effort deltas (from packs no segment holds) follow at new versions`)
	}
	if n := len(r.Unusable); n > 0 {
		fmt.Fprintf(a.stderr, "lake recover: %d %s could not be used:\n", n, plural(n, "object", "objects"))
		for _, why := range r.Unusable {
			fmt.Fprintf(a.stderr, "  %s\n", why)
		}
	}
}
