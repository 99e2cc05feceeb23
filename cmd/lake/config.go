package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/hkloudou/lake/v2/server"
)

func init() {
	register(&command{
		name:    "config",
		summary: "show (get) or store (set) the lake's config",
		usage:   "config get | config set FILE|-",
		help: `config get prints the lake's config as JSON with the secrets (secret_key,
aes_pwd) shown as "***"; it prints {} when none is stored (and says on stderr
which storage the lake uses then).

config set reads a config as JSON from FILE, or from stdin with -, checks it
(unknown fields are refused), probes its storage (puts, gets and deletes a
test object), then stores it. A config that fails a step is not stored. A
secret given as "***" (the redaction marker) is refused.

Fields: name, storage (memory, local, s3, oss), path, endpoint, region,
bucket, access_key, secret_key, path_style (auto, path, virtual), aes_pwd.`,
		example: []string{
			`lake config get`,
			`echo '{"storage":"local","path":"/var/lib/lake/objects","aes_pwd":"s3cret"}' | lake config set -`,
			`lake --meta redis://localhost:6379 config set lake-config.json`,
		},
		setup: func(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
			return func(ctx context.Context, args []string) error {
				if len(args) == 0 {
					return usagef("want get or set")
				}
				switch args[0] {
				case "get":
					if err := wantArgs(args[1:], 0, 0, "no argument after get"); err != nil {
						return err
					}
					return configGet(ctx, a)
				case "set":
					if err := wantArgs(args[1:], 1, 1, "FILE or - after set"); err != nil {
						return err
					}
					return configSet(ctx, a, args[1])
				}
				return usagef("unknown config command %q: want get or set", args[0])
			}
		},
	})
}

func configGet(ctx context.Context, a *app) error {
	client := a.open()
	defer closeClient(a, client)
	cfg, err := client.GetConfig(ctx)
	if err != nil {
		return err
	}
	if cfg == nil {
		fmt.Fprintln(a.stdout, "{}")
		if kind, err := client.StorageKind(ctx); err == nil {
			fmt.Fprintf(a.stderr, "lake config: no config stored; this lake keeps bodies in %s storage\n", kind)
		}
		return nil
	}
	out, err := json.MarshalIndent(cfg.Redacted(), "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, string(out))
	return nil
}

func configSet(ctx context.Context, a *app, source string) error {
	var (
		data []byte
		err  error
	)
	if source == "-" {
		data, err = io.ReadAll(a.stdin)
	} else {
		data, err = os.ReadFile(source)
	}
	if err != nil {
		return usagef("read config: %v", err)
	}
	cfg, err := server.ParseConfig(data)
	if err != nil {
		return err
	}
	client := a.open()
	defer closeClient(a, client)
	if err := client.UpdateConfig(ctx, cfg); err != nil {
		return err
	}
	kind, _ := client.StorageKind(ctx)
	fmt.Fprintf(a.stderr, "lake config: stored (storage %s)\n", kind)
	return nil
}
