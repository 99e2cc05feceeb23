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
		usage:   "serve [--listen ADDR] [--token T | --token-file F] [--read-token T] [--allow-remote]",
		help: `Serves the HTTP API (POST/GET /v1/catalogs/{catalog}, GET /v1/catalogs,
GET/PUT /v1/config, /healthz, /metrics) until SIGTERM or SIGINT, then stops
accepting connections, lets requests in flight finish (up to 30s), closes the
lake and exits 0.

Tokens: requests send "Authorization: Bearer TOKEN". A read-write token
(--token, --token-file) may call everything; a read-only token (--read-token,
--read-token-file) may call the GET routes. /healthz and /metrics need none.
Without any token the API is open, so serve then refuses an address that is
not loopback unless --allow-remote is given. Token files hold one token per
line (blank lines and lines starting with # are ignored); they keep tokens
out of the process list, which --token does not.

Logs (log/slog) go to stderr: one line per request at info level.`,
		example: []string{
			`lake serve`,
			`lake --meta file:///var/lib/lake serve --listen :7171 --token-file /etc/lake/tokens`,
			`lake --meta redis://localhost:6379 serve --token "$LAKE_TOKEN" --read-token "$LAKE_READ_TOKEN"`,
		},
		setup: func(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
			listen := fs.String("listen", "127.0.0.1:7171", "`ADDR` to listen on (host:port; :port is every interface)")
			var tokens, readTokens, tokenFiles, readTokenFiles stringList
			fs.Var(&tokens, "token", "read-write bearer `TOKEN` (repeatable)")
			fs.Var(&tokenFiles, "token-file", "`FILE` of read-write tokens, one per line (repeatable)")
			fs.Var(&readTokens, "read-token", "read-only bearer `TOKEN` (repeatable)")
			fs.Var(&readTokenFiles, "read-token-file", "`FILE` of read-only tokens, one per line (repeatable)")
			allowRemote := fs.Bool("allow-remote", false, "allow a non-loopback --listen address without any token")
			maxBody := fs.Int64("max-body", server.DefaultMaxBodyBytes, "largest request body in `BYTES`")
			logFormat := fs.String("log-format", "text", "log format: text or json")
			return func(ctx context.Context, args []string) error {
				if err := wantArgs(args, 0, 0, "no arguments"); err != nil {
					return err
				}
				rw, err := collectTokens(tokens, tokenFiles)
				if err != nil {
					return err
				}
				ro, err := collectTokens(readTokens, readTokenFiles)
				if err != nil {
					return err
				}
				if len(rw)+len(ro) == 0 && !*allowRemote && !isLoopback(*listen) {
					return usagef("refusing to serve without a token on %s, which is not a loopback address: "+
						"give --token/--token-file (and --read-token), or --allow-remote to serve an open API anyway", *listen)
				}
				var handler slog.Handler
				switch *logFormat {
				case "text":
					handler = slog.NewTextHandler(a.stderr, nil)
				case "json":
					handler = slog.NewJSONHandler(a.stderr, nil)
				default:
					return usagef("--log-format %q: want text or json", *logFormat)
				}
				return serve(ctx, a, serveConfig{
					listen: *listen, logger: slog.New(handler),
					opts: server.Options{ReadWriteTokens: rw, ReadOnlyTokens: ro, MaxBodyBytes: *maxBody},
				})
			}
		},
	})
}

type serveConfig struct {
	listen string
	logger *slog.Logger
	opts   server.Options
}

func serve(ctx context.Context, a *app, cfg serveConfig) error {
	log := cfg.logger
	client := a.open(func(o *lake.Option) { o.Logger = log })
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
	kind, _ := client.StorageKind(ctx)
	log.Info("lake: serving", "addr", ln.Addr().String(), "meta", index.RedactURL(a.meta), "storage", kind,
		"auth", len(cfg.opts.ReadWriteTokens)+len(cfg.opts.ReadOnlyTokens) > 0)

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
