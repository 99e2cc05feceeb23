package index

import (
	"net/url"
	"strings"
)

// RedactURL returns metaURL fit for a log line or an error message: the
// password (and any password-like query parameter) replaced by "***", the
// rest as it was. It reads the URL the way Open does: a bare "host:port"
// (or "user:pass@host:port") is a redis:// URL, and a file:// URL has no
// credentials and comes back unchanged.
//
// A password that breaks URL syntax (a '/', '?', '#' or a bad '%' escape
// written as is) makes the URL ambiguous; then everything before the last
// '@' is hidden, so no part of such a password is ever shown.
func RedactURL(metaURL string) string {
	scheme, rest, hasScheme := strings.Cut(metaURL, "://")
	if !hasScheme {
		if metaURL == "" {
			return ""
		}
		// Open takes a bare address as redis://; so does the log.
		scheme, rest = "redis", metaURL
	}
	if scheme == "file" {
		return metaURL
	}
	if !validScheme(scheme) {
		// "user:pa://ss@host": what looks like a scheme may be credentials.
		if i := strings.LastIndex(metaURL, "@"); i >= 0 {
			return "***" + redactTail(metaURL[i:])
		}
		return redactTail(metaURL)
	}
	prefix := scheme + "://"
	if !hasScheme {
		prefix = ""
	}
	at := strings.LastIndex(rest, "@")
	// The authority ends at the first '/', '?' or '#'; url.Parse takes the
	// userinfo up to the authority's last '@'. When another '@' follows the
	// authority, the URL is ambiguous: a password holding a '/', '?' or '#'.
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	if at >= len(authority) {
		return prefix + "***" + redactTail(rest[at:])
	}
	u, err := url.Parse(scheme + "://" + rest)
	if err != nil {
		if at >= 0 {
			return prefix + "***" + redactTail(rest[at:])
		}
		return prefix + redactTail(rest)
	}
	// From here the URL is well formed, and every '@' is in the userinfo.
	var userinfo string
	if u.User != nil {
		userinfo = url.User(u.User.Username()).String()
		if _, hasPassword := u.User.Password(); hasPassword {
			userinfo += ":***"
		}
		userinfo += "@"
	}
	hostAndRest := rest
	if at >= 0 {
		hostAndRest = rest[at+1:]
	}
	return prefix + userinfo + redactTail(hostAndRest)
}

// redactTail hides the values of password-like query parameters in the part
// of a URL after its userinfo, working on the raw text so that nothing else
// changes.
func redactTail(s string) string {
	before, query, ok := strings.Cut(s, "?")
	if !ok {
		return s
	}
	query, fragment, hasFragment := strings.Cut(query, "#")
	params := strings.Split(query, "&")
	for i, p := range params {
		key, _, hasValue := strings.Cut(p, "=")
		if name, err := url.QueryUnescape(key); err == nil {
			key = name
		}
		if hasValue && secretParam(key) {
			params[i] = strings.SplitN(p, "=", 2)[0] + "=***"
		}
	}
	out := before + "?" + strings.Join(params, "&")
	if hasFragment {
		out += "#" + fragment
	}
	return out
}

// secretParam reports whether a query parameter's name suggests a secret.
// rueidis reads no password from the query, but a URL copied from another
// client's configuration may carry one.
func secretParam(name string) bool {
	name = strings.ToLower(name)
	for _, s := range []string{"pass", "pwd", "secret", "token", "auth", "key"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// validScheme reports whether s is a URL scheme (RFC 3986: a letter, then
// letters, digits, '+', '-' or '.').
func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// ambiguousURL reports whether metaURL has an '@' that URL syntax does not
// place in the userinfo (or cannot be parsed at all while holding one): a
// password with a '/', '?', '#' or '%' written as is. Such a URL must not be
// quoted in an error, and the fix is to percent-encode the password.
func ambiguousURL(metaURL string) bool {
	_, rest, ok := strings.Cut(metaURL, "://")
	if !ok {
		rest = metaURL
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return false
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 && at > i {
		return true
	}
	_, err := url.Parse("redis://" + rest)
	return err != nil
}
