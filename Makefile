.PHONY: run test bench build

# Runs the quick start against a local Redis (started if none answers).
run:
	bash scripts/run.sh

# Runs every test against real parts (see scripts/test.sh).
test:
	bash scripts/test.sh

bench:
	bash scripts/bench.sh

build:
	go build ./...
