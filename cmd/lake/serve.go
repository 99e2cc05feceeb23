package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	lake "github.com/hkloudou/lake/v2"
	"github.com/hkloudou/lake/v2/index"
	"github.com/hkloudou/lake/v2/server"
)

// HTTP server limits.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 30 * time.Second
	startupPing       = 10 * time.Second
)

func init() {
	register(&command{
		name:    "serve",
		summary: "serve the lake's HTTP API",
		usage:   "serve [--listen ADDR] [--token T | --token-file F] [--read-token T] [--allow-remote] [--cors-origin ORIGIN] [--allow-host NAME] [--require-safe-redis] [--cache-bytes N] [--max-document-size N] [--compact-every DURATION|off]",
		help: `Serves the HTTP API (POST/GET/DELETE /v1/catalogs/{catalog}, GET
/v1/catalogs/{catalog}?at=VERSION|TIME, GET /v1/catalogs/{catalog}/history,
POST /v1/catalogs/{catalog}/compact, GET /v1/catalogs, GET/PUT /v1/config,
/healthz, /metrics) until SIGTERM or SIGINT, then stops accepting
connections, lets requests in flight finish (up to 30s), closes the lake and
exits 0.

Tokens: requests send "Authorization: Bearer TOKEN". A read-write token
(--token, --token-file) may call everything; a read-only token (--read-token,
--read-token-file) may call the GET routes. /healthz and /metrics need none.
Without any token the API is open, so serve then refuses an address that is
not loopback unless --allow-remote is given. Token files hold one token per
line (blank lines and lines starting with # are ignored); they keep tokens
out of the process list, which --token does not.

Browsers: a request with an Origin header other than the server's own, or
an --cors-origin one, is refused (403); --cors-origin origins get CORS
answers. Without any token, a Host other than localhost, 127.0.0.0/8, [::1]
or an --allow-host name is refused (421), which defeats DNS rebinding.

Durability: writes whose bodies would live only in this process's memory
(a Redis lake without a stored config) are refused unless the global
--storage memory is given; store a config with lake config set. At start,
serve checks the meta store's settings (Redis: eviction policy,
persistence) and logs each risky one as a warning; with
--require-safe-redis it refuses to start instead (exit 1).

Compaction: every --compact-every (default 10s), the catalogs written
through this server since the last round have their new log entries
archived to log segments in the object store, and their logs trimmed in the
meta store to the newest 1000 entries (after a snapshot; no entry younger
than two minutes), which keeps the meta store's memory bounded. Reads of
the past (?at=) read the segments. --compact-every off (or a negative
duration) turns it off, for a lake that another process compacts (lake
compact, POST /v1/catalogs/{catalog}/compact).

Logs (log/slog) go to stderr: the storage in use, the lake's ID and the
compaction interval at start, then one line per request at info level.`,
		example: []string{
			`lake serve`,
			`lake --meta file:///var/lib/lake serve --listen :7171 --token-file /etc/lake/tokens`,
			`lake --meta redis://localhost:6379 serve --token "$LAKE_TOKEN" --read-token "$LAKE_READ_TOKEN" --require-safe-redis`,
			`lake serve --cors-origin https://app.example.com --allow-host lake.internal`,
			`lake serve --compact-every 1m`,
		},
		setup: setupServe,
	})
}

// serveFlags are the flags of lake serve, as given.
type serveFlags struct {
	listen                                         string
	tokens, readTokens, tokenFiles, readTokenFiles stringList
	allowRemote                                    bool
	maxBody                                        int64
	logFormat                                      string
	origins, hosts                                 stringList
	requireSafe                                    bool
	cacheBytes, maxDocument                        int64
	compactEvery                                   compactInterval
}

func setupServe(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
	f := &serveFlags{}
	fs.StringVar(&f.listen, "listen", "127.0.0.1:7171", "`ADDR` to listen on (host:port; :port is every interface)")
	fs.Var(&f.tokens, "token", "read-write bearer `TOKEN` (repeatable)")
	fs.Var(&f.tokenFiles, "token-file", "`FILE` of read-write tokens, one per line (repeatable)")
	fs.Var(&f.readTokens, "read-token", "read-only bearer `TOKEN` (repeatable)")
	fs.Var(&f.readTokenFiles, "read-token-file", "`FILE` of read-only tokens, one per line (repeatable)")
	fs.BoolVar(&f.allowRemote, "allow-remote", false, "allow a non-loopback --listen address without any token")
	fs.Int64Var(&f.maxBody, "max-body", server.DefaultMaxBodyBytes, "largest request body in `BYTES`")
	fs.StringVar(&f.logFormat, "log-format", "text", "log `FORMAT`: text or json")
	fs.Var(&f.origins, "cors-origin", "browser `ORIGIN` (scheme://host[:port]) allowed to call the API, with CORS answers (repeatable)")
	fs.Var(&f.hosts, "allow-host", "Host `NAME` (host or host:port) answered without a token besides loopback ones (repeatable)")
	fs.BoolVar(&f.requireSafe, "require-safe-redis", false, "refuse to start while the meta store's settings put acknowledged writes at risk (eviction, no persistence)")
	fs.Int64Var(&f.cacheBytes, "cache-bytes", 0, "memory the document cache may hold, in `BYTES` (0: the library's default)")
	fs.Int64Var(&f.maxDocument, "max-document-size", 0, "largest document a read folds, in `BYTES` (0: the library's default)")
	fs.Var(&f.compactEvery, "compact-every", fmt.Sprintf("compact the catalogs written to every `DURATION` (0: the library's default, %v; off or a negative duration: never)",
		lake.DefaultCompactionInterval))
	return func(ctx context.Context, args []string) error { return runServe(ctx, a, f, args) }
}

// runServe checks the flags, then serves until a signal.
func runServe(ctx context.Context, a *app, f *serveFlags, args []string) error {
	if err := wantArgs(args, 0, 0, "no arguments"); err != nil {
		return err
	}
	cfg, err := f.config(a)
	if err != nil {
		return err
	}
	return serve(ctx, a, cfg)
}

// config checks the flags and returns what serve needs.
func (f *serveFlags) config(a *app) (serveConfig, error) {
	rw, err := collectTokens(f.tokens, f.tokenFiles)
	if err != nil {
		return serveConfig{}, err
	}
	ro, err := collectTokens(f.readTokens, f.readTokenFiles)
	if err != nil {
		return serveConfig{}, err
	}
	if len(rw)+len(ro) == 0 && !f.allowRemote && !isLoopback(f.listen) {
		return serveConfig{}, usagef("refusing to serve without a token on %s, which is not a loopback address: "+
			"give --token/--token-file (and --read-token), or --allow-remote to serve an open API anyway", f.listen)
	}
	var handler slog.Handler
	switch f.logFormat {
	case "text":
		handler = slog.NewTextHandler(a.stderr, nil)
	case "json":
		handler = slog.NewJSONHandler(a.stderr, nil)
	default:
		return serveConfig{}, usagef("--log-format %q: want text or json", f.logFormat)
	}
	if f.cacheBytes < 0 {
		return serveConfig{}, usagef("--cache-bytes %d: want a number >= 0", f.cacheBytes)
	}
	if f.maxDocument < 0 {
		return serveConfig{}, usagef("--max-document-size %d: want a number >= 0", f.maxDocument)
	}
	return serveConfig{
		listen: f.listen, logger: slog.New(handler),
		requireSafe: f.requireSafe, cacheBytes: f.cacheBytes, maxDocumentSize: f.maxDocument,
		compactEvery: time.Duration(f.compactEvery),
		opts: server.Options{
			ReadWriteTokens: rw, ReadOnlyTokens: ro, MaxBodyBytes: f.maxBody,
			AllowedOrigins: f.origins, AllowedHosts: f.hosts,
		},
	}, nil
}

type serveConfig struct {
	listen          string
	logger          *slog.Logger
	opts            server.Options
	requireSafe     bool  // --require-safe-redis
	cacheBytes      int64 // 0: the library's default
	maxDocumentSize int64 // 0: the library's default
	// compactEvery is Option.Compaction.Interval: 0 the library's default,
	// negative no background compaction.
	compactEvery time.Duration
}

func serve(ctx context.Context, a *app, cfg serveConfig) error {
	log := cfg.logger
	client := a.open(func(o *lake.Option) {
		o.Logger = log
		if cfg.cacheBytes > 0 {
			o.CacheBytes = cfg.cacheBytes
		}
		if cfg.maxDocumentSize > 0 {
			o.MaxDocumentSize = cfg.maxDocumentSize
		}
		o.Compaction.Interval = cfg.compactEvery
	})
	closed := false
	defer func() {
		if !closed {
			closeClient(a, client)
		}
	}()

	// Open the lake now: a file:// lake locked by another process, or a meta
	// URL that cannot work, is a startup error. A store that is merely down
	// is reported by /healthz until it comes back.
	pingCtx, cancel := context.WithTimeout(ctx, startupPing)
	err := client.Ping(pingCtx)
	cancel()
	switch {
	case errors.Is(err, lake.ErrMetaLocked), errors.Is(err, lake.ErrInvalidMetaURL), errors.Is(err, lake.ErrInvalidConfig):
		return err
	case err != nil:
		log.Warn("lake: the lake is not usable yet; serving anyway, /healthz reports 503 until it is", "error", err)
	}
	if err := checkMetaSafety(ctx, a, client, log, cfg.requireSafe); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	cfg.opts.Logger = log
	srv := &http.Server{
		Handler:           server.New(client, cfg.opts),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	sigCtx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	infoCtx, cancel := context.WithTimeout(ctx, startupPing)
	kind, kindErr := client.StorageKind(infoCtx)
	if kindErr != nil {
		kind = "unknown"
	}
	lakeID, idErr := client.LakeID(infoCtx)
	cancel()
	if idErr != nil {
		lakeID = "unknown"
	}
	log.Info("lake: serving", "addr", ln.Addr().String(), "meta", index.RedactURL(a.meta), "storage", kind,
		"lake_id", lakeID, "auth", len(cfg.opts.ReadWriteTokens)+len(cfg.opts.ReadOnlyTokens) > 0,
		"compaction", compactInterval(cfg.compactEvery).effective())
	if kindErr == nil && kind == "memory" && a.storage != storageMemory {
		log.Warn("lake: no durable object store configured: writes are refused (503) until a config is stored, " +
			"e.g. lake --meta URL config set '{\"storage\":\"local\",\"path\":\"/var/lib/lake/objects\"}'; " +
			"--storage memory accepts bodies that die with the process")
	} else if a.storage == storageMemory {
		log.Warn("lake: --storage memory: bodies live in this process's memory and are lost when it exits")
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-sigCtx.Done():
	}
	stop() // a second signal ends the process at once
	log.Info("lake: shutting down: no new connections, waiting for requests in flight", "timeout", shutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	shutdownErr := srv.Shutdown(shutdownCtx)
	if shutdownErr != nil {
		log.Error("lake: requests still running after the shutdown timeout; closing them", "error", shutdownErr)
		_ = srv.Close()
	}
	closed = true
	if err := client.Close(); err != nil {
		return fmt.Errorf("close the lake: %w", err)
	}
	if shutdownErr != nil {
		return fmt.Errorf("shutdown: %w", shutdownErr)
	}
	log.Info("lake: stopped")
	return nil
}

// checkMetaSafety asks the meta store whether its settings put
// acknowledged writes at risk. Each warning is logged; with requireSafe, any
// warning (or a meta store that cannot be asked) refuses the start, and the
// warnings are printed on stderr.
func checkMetaSafety(ctx context.Context, a *app, client *lake.Client, log *slog.Logger, requireSafe bool) error {
	checkCtx, cancel := context.WithTimeout(ctx, startupPing)
	warnings, err := client.MetaWarnings(checkCtx)
	cancel()
	if err != nil {
		if requireSafe {
			return fmt.Errorf("lake: serve: --require-safe-redis: cannot check the meta store's settings: %w", err)
		}
		log.Warn("lake: could not check the meta store's settings", "error", err)
		return nil
	}
	if !requireSafe {
		for _, w := range warnings {
			log.Warn("lake: meta store setting puts acknowledged writes at risk",
				"setting", w.Setting, "value", w.Value, "risk", w.Risk)
		}
		return nil
	}
	if len(warnings) == 0 {
		return nil
	}
	for _, w := range warnings {
		fmt.Fprintf(a.stderr, "unsafe: %s\n", w.String())
	}
	return fmt.Errorf("lake: serve: --require-safe-redis: the meta store has %d setting(s) that put acknowledged writes at risk (listed above); fix them or start without --require-safe-redis", len(warnings))
}

// isLoopback reports whether a listen address only accepts local
// connections: 127.0.0.0/8, ::1 or localhost. An empty host (":7171") is
// every interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// compactInterval is --compact-every: a duration, 0 for the library's
// default, or off (any negative duration) for no background compaction.
type compactInterval time.Duration

func (c *compactInterval) String() string {
	switch {
	case c == nil:
		return "0s"
	case *c < 0:
		return "off"
	}
	return time.Duration(*c).String()
}

func (c *compactInterval) Set(v string) error {
	if v == "off" {
		*c = -1
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("want a duration such as 30s or 5m, 0 for the default (%v), or off", lake.DefaultCompactionInterval)
	}
	*c = compactInterval(d)
	return nil
}

// effective is the interval the client runs with, as the start log shows
// it: "10s", or "off".
func (c compactInterval) effective() string {
	switch {
	case c < 0:
		return "off"
	case c == 0:
		return lake.DefaultCompactionInterval.String()
	}
	return time.Duration(c).String()
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// collectTokens returns the tokens given on the command line and in files.
func collectTokens(tokens, files []string) ([]string, error) {
	var out []string
	for _, t := range tokens {
		if t = strings.TrimSpace(t); t == "" {
			return nil, usagef("empty token")
		}
		out = append(out, t)
	}
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			return nil, usagef("token file: %v", err)
		}
		n := 0
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			out = append(out, line)
			n++
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, usagef("token file %s: %v", path, err)
		}
		if n == 0 {
			return nil, usagef("token file %s holds no token", path)
		}
	}
	return out, nil
}
