package lake_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/internal/redistest"
	"github.com/hkloudou/lake/v2/storage"
)

// TestClientOlderThanInitTimeoutReconnects: a client whose InitTimeout (1 s)
// has long passed must reconnect by itself after a Redis restart and after
// its connections are killed, and write and read within a second each. (The
// meta store once dialled with the start-up deadline as an absolute
// deadline, and failed every dial after it, forever.)
func TestClientOlderThanInitTimeoutReconnects(t *testing.T) {
	server := redistest.StartServer(t, "--appendonly", "yes", "--appendfsync", "always")
	client := lake.NewLake(server.URL, withStorage(storage.NewMemoryStorage()), func(o *lake.Option) {
		o.InitTimeout = time.Second
		o.KeyPrefix = "reconnect:"
		o.Logger = slog.New(slog.DiscardHandler)
	})
	defer client.Close()
	step := func(when, field string, want string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := client.Write(ctx, lake.WriteRequest{Catalog: "c", Field: field, Value: 1}); err != nil {
			t.Fatalf("write %s: %v", when, err)
		}
		ctx, cancel = context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		res, err := client.Read(ctx, lake.ReadRequest{Catalog: "c"})
		if err != nil {
			t.Fatalf("read %s: %v", when, err)
		}
		if got := res.Data.String(); got != want {
			t.Fatalf("read %s: %s, want %s", when, got, want)
		}
	}
	step("at start", "a", `{"a":1}`)
	time.Sleep(1500 * time.Millisecond) // older than InitTimeout

	server.Restart(t)
	step("after a Redis restart", "b", `{"a":1,"b":1}`)

	killer := redistest.Client(t, server.URL)
	if err := killer.Do(context.Background(), killer.B().Arbitrary("CLIENT", "KILL", "TYPE", "normal").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	step("after CLIENT KILL TYPE normal", "c", `{"a":1,"b":1,"c":1}`)
}
