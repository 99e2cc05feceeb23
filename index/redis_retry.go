package index

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// How the Redis engine rides out a server that cannot answer for now:
// rueidis's own retry after a network error (boundedRetry), the retry of
// transient error replies (retryTransient), and the classification of
// errors as ErrUnavailable (classify).

// boundedRetry lets rueidis retry a retryable command (reads, and commits,
// which are idempotent) three times after a network error, 10, 40 and 160 ms
// apart, and then give up: a stopped Redis is an error in well under a second
// instead of a wait as long as the caller's context, and a connection broken
// by a Redis restart costs a retry, not a failed write.
func boundedRetry(attempts int, _ rueidis.Completed, _ error) time.Duration {
	if attempts >= 3 {
		return -1
	}
	return 10 * time.Millisecond << (2 * attempts)
}

// ErrUnavailable: network errors, timeouts, and the error replies of a
// server that cannot serve for now (transientReply: LOADING, BUSY,
// MASTERDOWN, READONLY, TRYAGAIN, CLUSTERDOWN), which then name the reply.
// Other error replies and the caller's own cancellation keep their
// identity. The reply stays in the chain (errors.As finds the
// *rueidis.RedisError).
func classify(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || errors.Is(err, context.Canceled) {
		return err
	}
	var reply *rueidis.RedisError
	if errors.As(err, &reply) && !reply.IsNil() {
		if word, ok := transientReply(err); ok {
			return fmt.Errorf("%w: Redis answered %s: %w", ErrUnavailable, word, err)
		}
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// transientReply reports whether err holds an error reply by which Redis
// says it cannot serve the command now but will soon, and returns the
// reply's first word:
//
//	LOADING      the server is loading its data set after a restart
//	BUSY         a Lua call (or function) runs past lua-time-limit
//	MASTERDOWN   a replica lost its primary (replica-serve-stale-data no)
//	READONLY     a write reached a replica: a failover is under way, or the
//	             URL names a replica that is about to be promoted
//	TRYAGAIN     a multi-key command during a cluster resharding
//	CLUSTERDOWN  the cluster has a slot without a primary (a failover)
//
// rueidis itself retries only LOADING, and only a few times (boundedRetry);
// retryTransient waits for all of them as long as the caller's deadline
// allows. BUSYGROUP and BUSYKEY are not BUSY: they are final answers.
func transientReply(err error) (string, bool) {
	if err == nil {
		return "", false // the common case, without errors.As's allocation
	}
	var reply *rueidis.RedisError
	if !errors.As(err, &reply) || reply.IsNil() {
		return "", false
	}
	word, _, _ := strings.Cut(reply.Error(), " ")
	switch word {
	case "LOADING", "BUSY", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN":
		return word, true
	}
	return "", false
}

const (
	// transientWait bounds retryTransient when ctx has no deadline.
	transientWait = batchTimeout
	// transientFirstDelay and transientMaxDelay bound the pauses between
	// attempts: they double from the first to the last, with jitter.
	transientFirstDelay = 10 * time.Millisecond
	transientMaxDelay   = 200 * time.Millisecond
)

// retryTransient runs op, and runs it again while it fails with a transient
// error reply (transientReply), pausing between attempts (10 ms doubling to
// 200 ms, jittered) for as long as ctx's deadline allows (transientWait
// without one). It returns op's last error: nil, a final error, or the last
// transient reply when time ran out (also when the attempt cut off by the
// deadline failed only because of it). classify turns that reply into an
// error wrapping ErrUnavailable that names it.
//
// op must be safe to repeat: a read, or a commit (idempotent by delta ID),
// a snapshot save (a compare-and-set) or a removal (of an entry by version
// and ID). Every command path of the Redis engine goes through it: r.do for
// single commands, retryResult for Lua calls, and Commit and Read around
// their batches.
func retryTransient(ctx context.Context, op func() error) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(transientWait)
	}
	var last error // the last transient reply
	delay := transientFirstDelay
	for {
		err := op()
		if _, transient := transientReply(err); !transient {
			if err != nil && last != nil && cutOff(ctx, err) {
				return last // cut off by the deadline while Redis was unavailable
			}
			return err
		}
		last = err
		pause := delay/2 + rand.N(delay/2+1)
		// One more attempt just before the deadline, none after it.
		if left := time.Until(deadline) - time.Millisecond; left < pause {
			if pause = left; pause <= 0 {
				return last
			}
		}
		timer := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			timer.Stop()
			return last
		case <-timer.C:
		}
		delay = min(2*delay, transientMaxDelay)
	}
}

// retryResult runs a Redis call through retryTransient and returns its last
// result. For Lua calls:
//
//	res := retryResult(ctx, func() rueidis.RedisResult { return luaX.Exec(ctx, r.client, keys, args) })
func retryResult(ctx context.Context, run func() rueidis.RedisResult) rueidis.RedisResult {
	var res, last rueidis.RedisResult
	err := retryTransient(ctx, func() error {
		res = run()
		if _, transient := transientReply(res.Error()); transient {
			last = res
		}
		return res.Error()
	})
	if _, transient := transientReply(err); transient {
		return last // the same as res, unless the deadline cut off the last attempt
	}
	return res
}

// cutOff reports whether err ended an attempt because ctx ended (rueidis
// may see the deadline pass before ctx.Err says so).
func cutOff(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	deadline, ok := ctx.Deadline()
	return ok && !time.Now().Before(deadline)
}

// do is r.client.Do through retryTransient: a command that meets a server
// unavailable for now is sent again until it answers or ctx's deadline is
// near. It is also marked retryable, so that rueidis sends it again on a new
// connection when its connection broke (a restart, a dropped connection):
// every command sent through do must be idempotent (each one is: SET, HSET,
// HDEL, ZADD NX, reads). cmd is pinned, so that rueidis does not recycle it
// between attempts.
func (r *redisIndex) do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	cmd = cmd.ToRetryable().Pin()
	return retryResult(ctx, func() rueidis.RedisResult { return r.client.Do(ctx, cmd) })
}
