//go:build !unix

package index

import (
	"os"
	"time"
)

// lockFile does nothing where flock is missing: bbolt takes its own lock
// right after checkPages, which then reads the file unlocked.
func lockFile(*os.File, time.Duration) error { return nil }

func unlockFile(*os.File) {}
