package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	lake "github.com/hkloudou/lake/v2"
)

func init() {
	register(&command{
		name:    "delete",
		summary: "delete a catalog; prints its deletion version",
		usage:   "delete CATALOG",
		help: `Deletes the catalog from the lake and prints {"catalog":"...","deleted":D},
D its deletion version (0: the catalog did not exist, which is no error).

Its index goes at once: reads print {} and lake catalogs no longer lists it;
its past before D cannot be read (lake read --at exits 2). Its objects
(snapshots, log segments, bodies) stay in the object store until a garbage
collection after the lake's retention period, so that a catalog deleted by
mistake can be recovered until then. A later write starts a fresh catalog
whose versions are above D.`,
		example: []string{
			`lake delete users`,
		},
		setup: setupDelete,
	})
}

func setupDelete(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error { return runDelete(ctx, a, args) }
}

// deletedJSON is what lake delete prints, the answer of DELETE
// /v1/catalogs/{catalog}.
type deletedJSON struct {
	Catalog string `json:"catalog"`
	Deleted int64  `json:"deleted"`
}

// runDelete deletes the catalog args[0] and prints its deletion version.
func runDelete(ctx context.Context, a *app, args []string) error {
	if err := wantArgs(args, 1, 1, "CATALOG"); err != nil {
		return err
	}
	if err := lake.ValidateCatalog(args[0]); err != nil {
		return err
	}
	client := a.open()
	defer closeClient(a, client)
	d, err := client.DeleteCatalog(ctx, args[0])
	if err != nil {
		return err
	}
	out, err := json.Marshal(deletedJSON{Catalog: args[0], Deleted: d})
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, string(out))
	return nil
}
