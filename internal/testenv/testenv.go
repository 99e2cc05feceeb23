// Package testenv holds what every test helper for a real part (Redis, an
// S3 server) needs: the rule for a missing part and a free loopback port.
package testenv

import (
	"net"
	"os"
	"testing"
)

// Missing ends a test whose real part is not there: a skip on a developer's
// machine, a failure under CI=true, where a run must never pass by skipping.
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
