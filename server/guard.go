package server

import (
	"fmt"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// A browser will send a request to the API from any page it shows, and a
// token-less server on loopback has nothing else to tell that page from the
// user's own tools. The guard refuses what only such a page would send:
//
//   - an Origin header that is not the server's own origin, unless it is
//     one of Options.AllowedOrigins (then it gets CORS headers);
//   - on a server with no token, a Host that is not loopback (or one of
//     Options.AllowedHosts): a page of evil.example whose name is made to
//     resolve to 127.0.0.1 (DNS rebinding) is same-origin for the browser,
//     but its requests still say Host: evil.example;
//   - a request body that is not Content-Type: application/json on a route
//     that changes something: a page may send text/plain anywhere without
//     asking first, never application/json.
//
// With tokens, the Host is not checked: a page cannot send the token.

// corsAllowHeaders are the request headers a preflight allows.
const corsAllowHeaders = "Authorization, Content-Type, If-None-Match, If-Match"

// corsExposeHeaders are the answer headers a page of an allowed origin may
// read besides the simple ones.
const corsExposeHeaders = "ETag, Lake-Version, Lake-Skipped, Lake-Storage"

// corsMaxAge is how long (seconds) a browser may cache a preflight answer.
const corsMaxAge = "600"

type guard struct {
	checkHost bool
	hosts     []hostPort
	origins   map[string]bool
}

type hostPort struct{ host, port string }

// newGuard returns the guard of a server. checkHost is set on a server
// without tokens. Entries of allowedHosts and allowedOrigins that cannot
// match anything are returned as bad.
func newGuard(allowedHosts, allowedOrigins []string, checkHost bool) (g *guard, bad []string) {
	g = &guard{checkHost: checkHost, origins: map[string]bool{}}
	for _, h := range allowedHosts {
		host, port, ok := splitHost(strings.TrimSpace(h))
		if !ok {
			bad = append(bad, fmt.Sprintf("allowed host %q is not a host name or host:port", h))
			continue
		}
		g.hosts = append(g.hosts, hostPort{host, port})
	}
	for _, o := range allowedOrigins {
		n, ok := normalizeOrigin(strings.TrimSpace(o))
		if !ok {
			bad = append(bad, fmt.Sprintf("allowed origin %q is not scheme://host[:port]", o))
			continue
		}
		g.origins[n] = true
	}
	return g, bad
}

// check refuses a request with a misdirected Host or a foreign Origin, and
// sets the CORS headers of an allowed foreign origin on w.
func (g *guard) check(w http.ResponseWriter, r *http.Request) error {
	if g.checkHost && !g.hostAllowed(r.Host) {
		return newError(http.StatusMisdirectedRequest, CodeMisdirectedHost, fmt.Sprintf(
			"host %q is not served: a server without a token only answers localhost, 127.0.0.1 and [::1] "+
				"(a browser page of another name that resolves here would read the lake); "+
				"start the server with a token (--token), or name the host with --allow-host", r.Host))
	}
	if len(g.origins) > 0 {
		// The answer depends on Origin: caches must not give one origin's
		// answer (with or without CORS headers) to another.
		w.Header().Add("Vary", "Origin")
	}
	origins := r.Header.Values("Origin")
	if len(origins) == 0 {
		return nil
	}
	origin := origins[0]
	if len(origins) == 1 && sameOrigin(origin, r) {
		return nil
	}
	n, ok := normalizeOrigin(origin)
	if len(origins) > 1 || !ok || !g.origins[n] {
		return newError(http.StatusForbidden, CodeForbiddenOrigin, fmt.Sprintf(
			"origin %q may not use this API: only pages of the server's own origin may, "+
				"and the origins the server is started with (--cors-origin)", strings.Join(origins, ", ")))
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
	return nil
}

// hostAllowed reports whether a token-less server answers the Host header
// hostport: a loopback name or address, or an allowed host.
func (g *guard) hostAllowed(hostport string) bool {
	host, port, ok := splitHost(hostport)
	if !ok {
		return false
	}
	if host == "localhost" {
		return true
	}
	if addr, err := netip.ParseAddr(host); err == nil && addr.Zone() == "" && addr.Unmap().IsLoopback() {
		return true
	}
	for _, h := range g.hosts {
		if h.host == host && (h.port == "" || h.port == port) {
			return true
		}
	}
	return false
}

// splitHost splits a Host header (or an allowed host) into a lowercase host
// and a port, which may be empty. An IPv6 address must be in brackets.
func splitHost(s string) (host, port string, ok bool) {
	rest := ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", false
		}
		host, rest = s[1:end], s[end+1:]
		if addr, err := netip.ParseAddr(host); err != nil || !addr.Is6() {
			return "", "", false
		}
	case strings.Contains(s, ":"):
		i := strings.LastIndexByte(s, ':')
		host, rest = s[:i], s[i:]
		if strings.Contains(host, ":") {
			return "", "", false
		}
	default:
		host = s
	}
	if rest != "" {
		port = rest[1:]
		if rest[0] != ':' || !validPort(port) {
			return "", "", false
		}
	}
	if host == "" || strings.ContainsAny(host, "/?#@ \t") {
		return "", "", false
	}
	return strings.ToLower(host), port, true
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// normalizeOrigin returns the origin s as a browser serializes it:
// lowercase scheme://host, with the port only when it is not the scheme's
// default. "null" (the origin of sandboxed frames and files) stays itself.
func normalizeOrigin(s string) (string, bool) {
	if s == "null" {
		return s, true
	}
	scheme, host, port, ok := parseOrigin(s)
	if !ok {
		return "", false
	}
	if port != "" && port != defaultPort(scheme) {
		host = joinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host, true
}

// parseOrigin splits an origin scheme://host[:port] (http or https only).
func parseOrigin(s string) (scheme, host, port string, ok bool) {
	u, err := url.Parse(s)
	if err != nil || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" ||
		(u.Path != "" && u.Path != "/") {
		return "", "", "", false
	}
	scheme = strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", "", "", false
	}
	host, port, ok = splitHost(u.Host)
	return scheme, host, port, ok
}

// sameOrigin reports whether origin is the origin r was sent to: the
// scheme (https when the connection is TLS), host and port of its Host.
func sameOrigin(origin string, r *http.Request) bool {
	scheme, host, port, ok := parseOrigin(origin)
	if !ok {
		return false
	}
	own := "http"
	if r.TLS != nil {
		own = "https"
	}
	reqHost, reqPort, ok := splitHost(r.Host)
	if !ok || scheme != own || host != reqHost {
		return false
	}
	if port == "" {
		port = defaultPort(scheme)
	}
	if reqPort == "" {
		reqPort = defaultPort(own)
	}
	return port == reqPort
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}

func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + port
}

// requireJSON refuses a request body that is not JSON: every POST and PUT,
// and any other request that has a body, must say Content-Type:
// application/json (parameters allowed; a charset must be UTF-8).
func requireJSON(r *http.Request) error {
	if r.Method != http.MethodPost && r.Method != http.MethodPut && r.ContentLength == 0 {
		return nil
	}
	values := r.Header.Values("Content-Type")
	refuse := func(why string) error {
		return newError(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType,
			"the request body must be sent with Content-Type: application/json ("+why+")")
	}
	switch len(values) {
	case 0:
		return refuse("no Content-Type was given")
	case 1:
	default:
		return refuse("more than one Content-Type was given")
	}
	mediaType, params, err := mime.ParseMediaType(values[0])
	if err != nil {
		return refuse(fmt.Sprintf("%q does not parse: %v", values[0], err))
	}
	if mediaType != "application/json" {
		return refuse(fmt.Sprintf("got %q", mediaType))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return refuse(fmt.Sprintf("charset %q: JSON is UTF-8", cs))
	}
	return nil
}

// preflight answers OPTIONS on a path whose methods are allow. A CORS
// preflight of an allowed origin (the guard has set its
// Access-Control-Allow-Origin) gets what the browser asks for; a foreign
// origin never gets here (the guard refused it). No token is needed: a
// browser sends none with a preflight.
func preflight(allow string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		h := w.Header()
		h.Set("Allow", allow+", OPTIONS")
		if h.Get("Access-Control-Allow-Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", allow)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}
