package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	lake "github.com/hkloudou/lake/v2"
)

func init() {
	register(&command{
		name:    "check",
		summary: "verify that every delta's body exists and decodes; --repair removes the broken ones",
		usage:   "check CATALOG | check --all [--repair] [--json]",
		help: `Checks one catalog (or every catalog with --all): every log entry's body
exists in the object store, decrypts, and is JSON its merge type can apply;
the snapshot pointer is not ahead of the log and its object decodes.

Prints a header line and one line per problem (catalog, version, field,
merge type, kind, object key and reason, tab-separated), then a summary
line; a lake without problems prints only the summary.
Kinds: body_missing, corrupt, decrypt_failed, memory_body (the body lived
in another process's memory), entry_corrupt (the log entry itself),
snapshot_missing, snapshot_corrupt, pointer_ahead, log_unreadable.

--repair then removes each broken log entry (the problems with a version
and one of the kinds body_missing, corrupt, decrypt_failed, memory_body,
entry_corrupt) from the log for good, printing it before removing it:
reads had skipped or failed on it anyway. Snapshot problems are only
reported: a snapshot is a cache, and "lake read CATALOG --snap" replaces an
unusable one.

With --json, stdout holds one JSON document: {"catalogs":N,"deltas":N,
"problems":[...],"remaining":N}, each problem with "removed":true once
repaired; the entries being removed are listed on stderr.

Exit 0 when nothing is wrong or everything found was repaired, 1 when
problems remain.`,
		example: []string{
			`lake check users`,
			`lake check --all`,
			`lake check --all --repair`,
			`lake --meta redis://localhost:6379 check --all --json`,
		},
		setup: setupCheck,
	})
}

// checkOptions are the flags of lake check.
type checkOptions struct {
	all, repair, asJSON bool
}

func setupCheck(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
	var o checkOptions
	fs.BoolVar(&o.all, "all", false, "check every catalog")
	fs.BoolVar(&o.repair, "repair", false, "remove the log entries whose bodies are missing or broken")
	fs.BoolVar(&o.asJSON, "json", false, "print one JSON document")
	return func(ctx context.Context, args []string) error { return runCheck(ctx, a, o, args) }
}

// runCheck checks the catalog args[0], or every catalog with --all, then
// prints (and with --repair removes) what it found.
func runCheck(ctx context.Context, a *app, o checkOptions, args []string) error {
	if o.all {
		if err := wantArgs(args, 0, 0, "no CATALOG with --all"); err != nil {
			return err
		}
	} else if err := wantArgs(args, 1, 1, "CATALOG or --all"); err != nil {
		return err
	}
	if !o.all {
		if err := lake.ValidateCatalog(args[0]); err != nil {
			return err
		}
	}
	client := a.open()
	defer closeClient(a, client)
	var (
		report *lake.CheckReport
		err    error
	)
	if o.all {
		report, err = client.CheckAll(ctx, lake.CheckOptions{})
	} else {
		report, err = client.Check(ctx, args[0], lake.CheckOptions{})
	}
	if err != nil {
		if report != nil && len(report.Problems) > 0 && !o.asJSON {
			// What was found before the failure is still worth seeing.
			printProblems(a.stdout, report)
		}
		return err
	}
	return checkOutput(ctx, a, client, report, o.repair, o.asJSON)
}

// removableProblem reports whether --repair takes the problem's log entry
// out of the log: an entry problem (it has a version) of a removable kind.
func removableProblem(p lake.Problem) bool {
	if p.Version <= 0 || p.Removed {
		return false
	}
	switch p.Kind {
	case lake.ProblemBodyMissing, lake.ProblemBodyCorrupt, lake.ProblemDecrypt, lake.ProblemMemoryBody, lake.ProblemEntryCorrupt:
		return true
	}
	return false
}

// checkJSON is the --json output.
type checkJSON struct {
	*lake.CheckReport
	Remaining int `json:"remaining"`
}

func checkOutput(ctx context.Context, a *app, client *lake.Client, report *lake.CheckReport, repair, asJSON bool) error {
	if report.Problems == nil {
		report.Problems = []lake.Problem{}
	}
	if !asJSON {
		if len(report.Problems) > 0 {
			printProblems(a.stdout, report)
		}
		fmt.Fprintf(a.stdout, "checked %d catalog(s), %d delta(s): %d problem(s)\n", report.Catalogs, report.Deltas, len(report.Problems))
	}
	// The removals are listed where they do not break the JSON document.
	removals := a.stdout
	if asJSON {
		removals = a.stderr
	}
	var repairErr error
	removed := 0
	if repair {
		for i := range report.Problems {
			p := &report.Problems[i]
			if !removableProblem(*p) {
				continue
			}
			// Printed before the removal, so that a removal is never
			// unrecorded, even if this process dies right after it.
			fmt.Fprintf(removals, "removing %s\tversion %d\tfield %q\tobject %s\t(%s)\n", p.Catalog, p.Version, p.Field, objectOrNone(p.Object), p.Kind)
			_, err := client.RemoveDelta(ctx, p.Catalog, p.Version)
			switch {
			case err == nil:
			case errors.Is(err, lake.ErrDeltaNotFound):
				fmt.Fprintf(removals, "already gone: %s version %d\n", p.Catalog, p.Version)
			default:
				repairErr = err
			}
			if repairErr != nil {
				break
			}
			p.Removed = true
			removed++
		}
	}
	remaining := 0
	for _, p := range report.Problems {
		if !p.Removed {
			remaining++
		}
	}
	if asJSON {
		out, err := json.MarshalIndent(checkJSON{CheckReport: report, Remaining: remaining}, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, string(out))
	} else if repair {
		fmt.Fprintf(a.stdout, "removed %d log entr%s; %d problem(s) remain\n", removed, plural(removed, "y", "ies"), remaining)
	}
	if repairErr != nil {
		return repairErr
	}
	if remaining > 0 {
		msg := fmt.Sprintf("lake check: %d problem(s) remain", remaining)
		if !repair {
			for _, p := range report.Problems {
				if removableProblem(p) {
					msg += " (--repair removes the broken log entries)"
					break
				}
			}
		}
		return errors.New(msg)
	}
	return nil
}

// printProblems prints the header and one tab-separated line per problem.
func printProblems(w io.Writer, report *lake.CheckReport) {
	fmt.Fprintln(w, "CATALOG\tVERSION\tFIELD\tMERGE\tKIND\tOBJECT\tREASON")
	for _, p := range report.Problems {
		version := "-"
		if p.Version > 0 {
			version = strconv.FormatInt(p.Version, 10)
		}
		field := "-"
		if p.Field != "" || p.Merge != "" {
			field = strconv.Quote(p.Field)
		}
		merge := p.Merge
		if merge == "" {
			merge = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Catalog, version, field, merge, p.Kind, objectOrNone(p.Object), p.Reason)
	}
}

func objectOrNone(key string) string {
	if key == "" {
		return "-"
	}
	return key
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
