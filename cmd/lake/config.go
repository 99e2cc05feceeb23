package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	lake "github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/config"
	"github.com/hkloudou/lake/v2/storage"
)

func init() {
	register(&command{
		name:    "config",
		summary: "show (get) or store (set) the lake's config",
		usage:   "config get | config set [--force] [--create-bucket] JSON|FILE|-",
		help: `config get prints the lake's config as JSON with the secrets (secret_key,
aes_pwd) shown as "***"; it prints {} when none is stored (and says on stderr
which storage the lake uses then).

config set takes a config as JSON text given as the argument (it starts with
"{"), from FILE, or from stdin with -; checks it (unknown fields are
refused), probes its storage (puts, gets and deletes a test object), then
stores it. A config that fails a step is not stored. A secret given as "***"
(the redaction marker) is refused.

A lake that already has data is not moved to another object store (another
kind, endpoint, bucket, path or aes_pwd): the bodies written so far stay in
the old one and reads of them would fail. --force stores the config anyway;
then "lake check --all --repair" removes the entries whose bodies are gone.

--create-bucket creates the s3/oss bucket the config names when it does not
exist yet (in the config's region), before the probe; a bucket that exists
and is yours is used as it is.

Without a stored config (or with one naming memory storage), a Redis lake
refuses writes, since the bodies would live only in the writing process's
memory (see --storage in lake --help); a file:// lake keeps them in
DIR/objects.

Fields: name, storage (local, s3, oss, memory; required), path, endpoint,
region, bucket, access_key, secret_key, secret_key_file, path_style (auto,
path, virtual), aes_pwd, aes_pwd_file, encrypt, retention (how long reads
of the past reach back: a duration such as 720h or a number of days such
as 30d; none keeps every version).

Secrets can stay out of the stored config, which anyone who reads Redis can
read: leave secret_key (and access_key) out and give each process
LAKE_S3_SECRET_KEY (and LAKE_S3_ACCESS_KEY), or secret_key_file; set
"encrypt": true and give each process LAKE_AES_PWD, or aes_pwd_file.`,
		example: []string{
			`lake config get`,
			`lake --meta redis://localhost:6379 config set '{"storage":"local","path":"/var/lib/lake/objects"}'`,
			`echo '{"storage":"local","path":"/var/lib/lake/objects","aes_pwd":"s3cret"}' | lake config set -`,
			`lake --meta redis://localhost:6379 config set --create-bucket lake-s3.json`,
			`lake config set --force '{"storage":"local","path":"/srv/lake/objects"}'`,
		},
		setup: setupConfig,
	})
}

func setupConfig(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
	var o configSetOptions
	fs.BoolVar(&o.force, "force", false, "set: store the config even if it moves a lake that has data to another object store")
	fs.BoolVar(&o.createBucket, "create-bucket", false, "set: create the config's s3/oss bucket when it does not exist")
	return func(ctx context.Context, args []string) error { return runConfig(ctx, a, o, args) }
}

// runConfig runs config get or config set.
func runConfig(ctx context.Context, a *app, o configSetOptions, args []string) error {
	if len(args) == 0 {
		return usagef("want get or set")
	}
	switch args[0] {
	case "get":
		if err := wantArgs(args[1:], 0, 0, "no argument after get"); err != nil {
			return err
		}
		if o.force || o.createBucket {
			return usagef("--force and --create-bucket go with config set")
		}
		return configGet(ctx, a)
	case "set":
		if err := wantArgs(args[1:], 1, 1, "JSON, FILE or - after set"); err != nil {
			return err
		}
		return configSet(ctx, a, args[1], o)
	}
	return usagef("unknown config command %q: want get or set", args[0])
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
			if kind == storageMemory && a.storage != storageMemory {
				fmt.Fprintf(a.stderr, "lake config: writes are refused until a config naming durable storage is stored (lake config set), or --storage memory is given\n")
			}
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

type configSetOptions struct {
	force, createBucket bool
}

// readConfig reads a config as config set takes it: JSON text (it starts
// with "{"), a FILE, or - for stdin, and checks it (config.ParseInput:
// unknown fields and "***" secrets are refused). lake recover --config
// reads its config with it too.
func readConfig(a *app, source string) (*config.Config, error) {
	var (
		data []byte
		err  error
	)
	switch {
	case source == "-":
		data, err = io.ReadAll(a.stdin)
	case strings.HasPrefix(strings.TrimSpace(source), "{"):
		data = []byte(source)
	default:
		data, err = os.ReadFile(source)
	}
	if err != nil {
		return nil, usagef("read config: %v", err)
	}
	return config.ParseInput(data)
}

func configSet(ctx context.Context, a *app, source string, opt configSetOptions) error {
	cfg, err := readConfig(a, source)
	if err != nil {
		return err
	}
	if opt.createBucket {
		switch kind := cfg.StorageKind(); kind {
		case config.StorageS3, config.StorageOSS:
		default:
			return usagef("--create-bucket: the config's storage is %s, which has no bucket (s3 and oss have one)", kind)
		}
		if err := storage.CreateBucket(ctx, cfg); err != nil {
			return fmt.Errorf("lake: config set: create bucket %q: %w", cfg.Bucket, err)
		}
		fmt.Fprintf(a.stderr, "lake config: bucket %s is ready\n", cfg.Bucket)
	}
	client := a.open()
	defer closeClient(a, client)
	var update []lake.UpdateOption
	if opt.force {
		update = append(update, lake.ForceStorageChange())
	}
	if err := client.UpdateConfig(ctx, cfg, update...); err != nil {
		return err
	}
	kind, _ := client.StorageKind(ctx)
	fmt.Fprintf(a.stderr, "lake config: stored (storage %s)\n", kind)
	return nil
}
