.PHONY: run quickstart test bench build

# Runs Lake's main job: the HTTP API on 127.0.0.1:7171, with the lake in
# ./lake-data (embedded, no Redis needed).
run:
	go run ./cmd/lake serve

# Runs the README's Quick Start against a throwaway Redis.
quickstart:
	bash scripts/run.sh

# Runs every test against real parts (see scripts/test.sh).
test:
	bash scripts/test.sh

bench:
	bash scripts/bench.sh
	bash scripts/bench-s3.sh
	bash scripts/bench-lake.sh

build:
	go build -o lake ./cmd/lake
