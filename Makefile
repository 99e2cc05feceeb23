.PHONY: run quickstart test bench build

# Runs Lake's main job: the HTTP API on 127.0.0.1:7171, with the lake in
# ./lake-data (embedded, no Redis needed; durable: the bodies are files in
# ./lake-data/objects). The binary is built first and then exec'd, so the
# server is make's own child: Ctrl-C, or one kill of the PID that make run
# started, stops it (with `go run` between them, a kill of make left the
# server running).
run: build
	exec ./lake serve

# Runs the README's Quick Start against a throwaway Redis.
quickstart:
	bash tools/quickstart.sh

# Runs every test against real parts (see tools/test.sh).
test:
	bash tools/test.sh

bench:
	bash tools/bench.sh
	bash tools/bench-s3.sh
	bash tools/bench-lake.sh

# -buildvcs=auto overrides a GOFLAGS=-buildvcs=false: `lake version` names
# the commit when git is there.
build:
	go build -buildvcs=auto -o lake ./cmd/lake
