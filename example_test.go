package lake_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/config"
)

// exampleLake opens a lake in a new directory (file://, no Redis needed),
// and returns it with a function that closes it and removes the directory.
func exampleLake() (*lake.Client, func()) {
	dir, err := os.MkdirTemp("", "lake-example-")
	if err != nil {
		log.Fatal(err)
	}
	client := lake.NewLake("file://"+dir, func(o *lake.Option) {
		o.Logger = slog.New(slog.DiscardHandler) // keep the example's output to what it prints
	})
	return client, func() {
		client.Close()
		os.RemoveAll(dir)
	}
}

func ExampleNewLake() {
	dir, err := os.MkdirTemp("", "lake-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A lake in one directory; "redis://host:6379/0" shares one between
	// processes.
	client := lake.NewLake("file://" + dir)
	defer client.Close()

	kind, err := client.StorageKind(context.Background())
	fmt.Println(kind, err)
	// Output: local <nil>
}

func ExampleClient_Write() {
	client, done := exampleLake()
	defer done()
	ctx := context.Background()

	err := client.Write(ctx, lake.WriteRequest{Catalog: "users", Field: "profile.name", Value: "Ada"})
	fmt.Println(err)
	// Merge types say how a value combines with what is there.
	err = client.Write(ctx, lake.WriteRequest{Catalog: "users", Field: "profile.name", Value: "Grace", MergeType: lake.MergeInsert})
	fmt.Println(err)

	res, err := client.Read(ctx, lake.ReadRequest{Catalog: "users"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Data)
	// Output:
	// <nil>
	// <nil>
	// {"profile":{"name":"Ada"}}
}

func ExampleClient_Read() {
	client, done := exampleLake()
	defer done()
	ctx := context.Background()

	v, err := client.WriteVersion(ctx, lake.WriteRequest{Catalog: "stats", Field: "views", Value: 1})
	if err != nil {
		log.Fatal(err)
	}
	res, err := client.Read(ctx, lake.ReadRequest{Catalog: "stats", GenerateSnap: true})
	if err != nil {
		log.Fatal(err)
	}
	var stats struct{ Views int }
	if err := res.Decode(&stats); err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Data, stats.Views, res.Version == v, res.Snapshot.Saved)
	// Output: {"views":1} 1 true true
}

func ExampleClient_UpdateConfig() {
	client, done := exampleLake()
	defer done()
	ctx := context.Background()

	dir, err := os.MkdirTemp("", "lake-objects-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	err = client.UpdateConfig(ctx, &config.Config{
		Name:    "example",
		Storage: "local",
		Path:    filepath.Join(dir, "objects"),
		AESPwd:  "correct horse battery staple",
	})
	fmt.Println(err)

	cfg, err := client.GetConfig(ctx)
	fmt.Println(cfg.Storage, cfg.Redacted().AESPwd, err) // GetConfig returns the secrets; Redacted (and %v) hides them
	kind, _ := client.StorageKind(ctx)
	fmt.Println(kind)

	// A config must name its storage.
	err = client.UpdateConfig(ctx, &config.Config{})
	fmt.Println(err != nil)
	// Output:
	// <nil>
	// local *** <nil>
	// encrypted(local)
	// true
}

func ExampleClient_PutScript() {
	client, done := exampleLake()
	defer done()
	ctx := context.Background()

	err := client.PutScript(ctx, "counter", `
function merge(current, value, ctx) {
  return (current === undefined ? 0 : current) + value;
}`)
	if err != nil {
		log.Fatal(err)
	}
	for range 3 {
		err := client.Write(ctx, lake.WriteRequest{Catalog: "stats", Field: "views", Value: 2, MergeType: lake.MergeScript, Script: "counter"})
		if err != nil {
			log.Fatal(err)
		}
	}
	res, err := client.Read(ctx, lake.ReadRequest{Catalog: "stats"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Data)
	// Output: {"views":6}
}
