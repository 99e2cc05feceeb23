// Quickstart is the README's Quick Start as a program: it writes one field
// to catalog "users" of the lake at redis://localhost:6379 and prints the
// merged document. Run it with `make run`.
package main

import (
	"context"
	"fmt"

	"github.com/hkloudou/lake/v2"
)

func main() {
	// Create client - instant, no error
	// Config is loaded lazily on first operation
	client := lake.NewLake("redis://localhost:6379")

	ctx := context.Background()

	// First operation triggers config load from Redis
	// If no config exists, falls back to memory storage
	err := client.Write(ctx, lake.WriteRequest{
		Catalog: "users",
		Field:   "profile.name",
		Value:   map[string]any{"first": "John", "last": "Doe"},
	})
	_ = err

	// Read data with auto-snapshot
	result, err := client.Read(ctx, lake.ReadRequest{
		Catalog:      "users",
		GenerateSnap: true,
	})

	fmt.Println(result.Data) // Merged JSON document
}
