package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"time"

	lake "github.com/hkloudou/lake/v2"
)

func init() {
	register(&command{
		name:    "gc",
		summary: "delete the objects no retained read needs from the object store",
		usage:   "gc [--dry-run] [--grace DURATION]",
		help: `Garbage-collects the lake's object store: reads the whole index (every
catalog's log, snapshot history and log segments), lists the whole store,
and deletes
  * packs of bodies that no log entry names (their deltas are archived in
    segments, or were never committed), once older than --grace;
  * snapshots and segments that only reads below the retention floor need
    (for each catalog, those older than the newest snapshot at or below the
    floor, which stays), forgotten in the index first;
  * snapshots no pointer names (a save that lost its race) and segments no
    registry names (a second archiver's copy), once older than --grace;
  * the objects of a catalog deleted before the retention floor.
It never deletes what a retained read needs: a catalog's current snapshot,
anything a read at or above the floor folds, a deletion's tombstone, an
object it cannot place, or anything of a catalog the index does not know
(an index that lost data must be recovered first: lake recover). The floor
lags the lake's retention by an hour, so that a read of the past started
before the collection still finds what it needs.

Prints one JSON line per object deleted (with --dry-run: that would be
deleted, and nothing is):
  {"key":"...","size":N,"reason":"..."}
then a summary on stderr: how many objects and bytes, of how many scanned,
and the floor version (0: the retention keeps every version, so only
objects nothing refers to go).

A store that cannot list its keys (memory storage: a lake without a config,
or --storage memory) cannot be collected: exit 1, nothing deleted.`,
		example: []string{
			`lake gc --dry-run`,
			`lake --meta redis://localhost:6379 gc`,
			`lake gc --grace 6h`,
		},
		setup: setupGC,
	})
}

// gcOptions are the flags of lake gc.
type gcOptions struct {
	dryRun bool
	grace  time.Duration
}

func setupGC(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
	var o gcOptions
	fs.BoolVar(&o.dryRun, "dry-run", false, "print what would be deleted, and delete nothing")
	fs.DurationVar(&o.grace, "grace", 0, fmt.Sprintf("keep unreferenced objects younger than `DURATION` (0: %v; at least 1m)", lake.DefaultGCGrace))
	return func(ctx context.Context, args []string) error { return runGC(ctx, a, o, args) }
}

// runGC collects the lake's garbage and prints what went.
func runGC(ctx context.Context, a *app, o gcOptions, args []string) error {
	if err := wantArgs(args, 0, 0, "no argument"); err != nil {
		return err
	}
	if o.grace < 0 || (o.grace > 0 && o.grace < time.Minute) {
		return usagef("--grace %v: want 0 (the default) or at least 1m: a write in flight could lose its pack", o.grace)
	}
	client := a.open()
	defer closeClient(a, client)
	report, err := client.GC(ctx, lake.GCOptions{DryRun: o.dryRun, Grace: o.grace})
	if err != nil {
		return err
	}
	for _, obj := range report.Deleted {
		line, err := json.Marshal(obj)
		if err != nil {
			return fmt.Errorf("lake: gc: %s: %w", obj.Key, err)
		}
		fmt.Fprintln(a.stdout, string(line))
	}
	fmt.Fprintln(a.stderr, gcSummary(report))
	return nil
}

// gcSummary is the line lake gc ends with on stderr.
func gcSummary(r *lake.GCReport) string {
	verb := "deleted"
	if r.DryRun {
		verb = "dry run, nothing deleted: would delete"
	}
	floor := "the history below it goes"
	if r.Floor == 0 {
		floor = "the retention keeps every version, so only objects nothing refers to go"
	}
	n := len(r.Deleted)
	return fmt.Sprintf("lake gc: %s %d %s, %s (%d bytes) of %d scanned (%s); floor version %d: %s",
		verb, n, plural(n, "object", "objects"), humanBytes(r.DeletedBytes), r.DeletedBytes, r.Scanned, humanBytes(r.ScannedBytes), r.Floor, floor)
}

// humanBytes writes n bytes in binary units: "512 B", "3.4 MiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	value, prefix := float64(n)/unit, 0
	for value >= unit && prefix < len("KMGTPE")-1 {
		value /= unit
		prefix++
	}
	return fmt.Sprintf("%.1f %ciB", value, "KMGTPE"[prefix])
}
