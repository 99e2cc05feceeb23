// Quickstart is the README's Quick Start with its errors checked: it writes
// one field to catalog "users" and prints the merged document. The lake is
// at $LAKE_META (default redis://localhost:6379). Run it with `make quickstart`.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/hkloudou/lake/v2"
)

func main() {
	metaURL := os.Getenv("LAKE_META")
	if metaURL == "" {
		metaURL = "redis://localhost:6379"
	}
	// Instant and never fails; the config is loaded by the first operation.
	client := lake.NewLake(metaURL)
	defer client.Close()
	ctx := context.Background()

	err := client.Write(ctx, lake.WriteRequest{
		Catalog: "users",
		Field:   "profile.name",
		Value:   map[string]any{"first": "John", "last": "Doe"},
	})
	if err != nil {
		fail(err)
	}
	result, err := client.Read(ctx, lake.ReadRequest{Catalog: "users", GenerateSnap: true})
	if err != nil {
		fail(err)
	}
	fmt.Println(result.Data)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "quickstart:", err)
	os.Exit(1)
}
