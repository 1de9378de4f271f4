# StemeDB: one entry point. On a machine with only Node and npm, `make run` and `make test`
# install Bun (pinned, from the npm registry) and the dependencies first.

BUN_VERSION := 1.4.4
# Worker-thread entry points the compiled binary must carry (test/integration/binary.test.ts lists them too).
WORKERS := src/crypto/verify-worker.ts src/backup/hash-worker.ts src/backup/root-worker.ts src/backup/merkle-worker.ts src/log/recovery-worker.ts src/query/resolver-worker.ts src/index/checkpointer-worker.ts
# The index's page-checksum VFS shim (native/stemedb_cksm.c), a SQLite extension; the binary carries it
# (an extra entry point; `--root src` keeps the workers' embedded paths below src/ as worker-url.ts expects).
CKSM_SO := native/stemedb_cksm.so
BUN := $(CURDIR)/tools/node_modules/.bin/bun
# A test's time limit: integration tests start real servers and processes, and on a busy 2-core
# machine a few seconds is not enough (Bun 1.4.4 reads no timeout from bunfig.toml; the flag it takes).
BUN_TEST := $(BUN) test --timeout 60000
DATA_DIR ?= ./data
BIND ?= 127.0.0.1:18180
JUNIT ?=

.PHONY: help setup run demo test test-unit test-integration test-deps check fmt docs build client bench bench-query bench-memory bench-cascade bench-bundle bench-backup bench-guard bench-schemas bench-index bench-mcp bench-changes bench-arena bench-cluster bench-cluster-detect bench-peer bench-scale clean deploy-tools check-deploy

help:
	@echo "make run               set up, then serve on $(BIND) with data in $(DATA_DIR)"
	@echo "make demo              the pharma demo against the running server (STEMEDB_URL or http://$(BIND))"
	@echo "make test              set up, then run every test"
	@echo "make test-unit         fast tests (no sockets, no processes)"
	@echo "make test-integration  tests that start real servers and kill real processes"
	@echo "make check             typecheck (tsc --noEmit), lint (biome), functions over 70 lines listed, over 100 fail"
	@echo "make docs              write the derived docs: docs/CLI.md, .env.example, docs/API.md's error table and route list"
	@echo "make build             compile dist/stemedb"
	@echo "make client            the TypeScript client as a package: dist/client/ (npm install dist/client)"
	@echo "make check-deploy      deploy/: systemd-analyze verify, promtool check + test, nginx -t, dashboards, scratch image, promtool check metrics on a live /metrics"
	@echo "make bench             ingest benchmark against a real server"
	@echo "make bench-query       lens queries (cold, hot views) and ingest under views, 1M assertions (issue 3)"
	@echo "make bench-memory      server RSS while 200,000 assertions load and cold queries run (BENCH_RECORDS, BENCH_VARIANTS; issue 14)"
	@echo "make bench-cascade     a source retraction over 100,000 dependants (issue 4)"
	@echo "make bench-bundle      export and verify-bundle of a 100,000-record audit bundle (issue 4)"
	@echo "make bench-backup      backup, verify, restore of 1,000,000 records; ingest during a backup (issue 6)"
	@echo "make bench-guard       ingest with the door (keys, rate limits, content defense) off and on (issue 5)"
	@echo "make bench-schemas     route body handling: our strict parse against an Elysia TypeBox schema"
	@echo "make bench-index       what the index's page checksums and checked reads cost (100,000 records)"
	@echo "make bench-mcp         query_claim round trips over MCP (stdio and HTTP /mcp) against GET /v1/query"
	@echo "make bench-changes     the change feed: ingest with 100 followers and without; acknowledgement → event delay at 5,000 records/s"
	@echo "make bench-cluster     three cluster nodes and one single: ingest ratio, replication lag at 2,000 records/s, a joining node's sync"
	@echo "make bench-arena       stemedb sim truth at 1,000 agents × 50 ticks: wall and CPU time, with the load"
	@echo "make bench-peer        StemeDB against PostgreSQL and a small verifying service, alternated (issue 14)"
	@echo "make bench-scale       the scale curve: one store grown step by step (BENCH_SIZES, documented: 1M,2M,5M,10M); ingest, restart, cold queries, RSS at each (issue 14)"
	@echo "make bench-cluster-detect  cluster failure detection on real processes: kill -9 → dead on every other node (lan preset)"

$(BUN): tools/package.json
	cd tools && npm install --no-audit --no-fund --loglevel=error
	@$(BUN) --version | grep -qx '$(BUN_VERSION)' || { echo "expected bun $(BUN_VERSION)"; exit 1; }
	@touch $(BUN)

node_modules/.installed: package.json bun.lock $(BUN)
	$(BUN) install --frozen-lockfile
	@touch $@

setup: node_modules/.installed $(CKSM_SO)

# Compiled against Debian's sqlite3ext.h (libsqlite3-dev, installed here when missing); it
# links nothing but libc: SQLite's functions come from the process that loads it (bun:sqlite).
$(CKSM_SO): native/stemedb_cksm.c
	@if [ ! -f /usr/include/sqlite3ext.h ]; then \
	  echo "installing libsqlite3-dev (sqlite3ext.h, to compile the index checksum shim)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq libsqlite3-dev >/dev/null; \
	fi
	gcc -O2 -fPIC -shared -Wall -Wextra -Werror -o $@ $<

# The vector tests check our encoding against independent implementations from Debian:
# Python's cbor2 and PyNaCl, and b3sum. The TLS test makes a certificate with openssl and
# checks the refused TLS 1.2 handshake with curl. The client's browser test drives Debian's
# chromium (headless, through playwright-core). The cluster's network-namespace tests make
# loss and partitions with iptables (and skip, saying so, when not run as root).
test-deps:
	@if ! /usr/bin/python3 -c 'import cbor2, nacl' 2>/dev/null || ! command -v b3sum >/dev/null \
	    || ! command -v openssl >/dev/null || ! command -v curl >/dev/null || ! [ -x /usr/bin/chromium ] \
	    || ! command -v iptables >/dev/null; then \
	  echo "installing python3-cbor2 python3-nacl b3sum (independent encoders for the vector tests), openssl and curl (the TLS test), chromium (the client in a browser), iptables (faults in the cluster's network-namespace tests)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq python3-cbor2 python3-nacl b3sum openssl curl chromium iptables >/dev/null; \
	fi

run: setup
	$(BUN) src/main.ts serve --data-dir $(DATA_DIR) --bind $(BIND)

# Against a server already running (`make run` in another terminal); fresh keys and namespace each run.
demo: setup
	$(BUN) src/main.ts demo --server $${STEMEDB_URL:-http://$(BIND)}

test: setup test-deps
	$(BUN_TEST) $(if $(JUNIT),--reporter=junit --reporter-outfile=$(JUNIT))

test-unit: setup test-deps
	$(BUN_TEST) test/core test/crypto test/log test/index test/ingest test/store test/config test/lens test/state test/trust test/query test/audit test/demo test/bundle test/api test/defense test/metrics test/cli test/auth test/client test/mcp test/feed test/cluster test/sim

test-integration: setup test-deps
	$(BUN_TEST) test/integration

check: setup
	$(BUN) x tsc --noEmit -p .
	$(BUN) x biome check src test bench scripts
	$(BUN) scripts/function-length.ts src

# The deploy/ checkers: systemd-analyze and strace from Debian, and promtool and nginx unpacked
# from Debian's prometheus and nginx packages into tools/deploy/ — unpacked, not installed, so
# no Prometheus or nginx daemon is set up or started on the machine.
DEPLOY_TOOLS := tools/deploy
deploy-tools:
	@if ! command -v systemd-analyze >/dev/null || ! command -v strace >/dev/null; then \
	  echo "installing systemd (systemd-analyze) and strace"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq systemd strace >/dev/null; \
	fi
	@if [ ! -x $(DEPLOY_TOOLS)/usr/bin/promtool ] || [ ! -x $(DEPLOY_TOOLS)/usr/sbin/nginx ]; then \
	  echo "unpacking promtool and nginx from Debian's packages into $(DEPLOY_TOOLS)/"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  rm -rf $(DEPLOY_TOOLS)/debs && mkdir -p $(DEPLOY_TOOLS)/debs && cd $(DEPLOY_TOOLS)/debs && \
	  { apt-get download prometheus nginx 2>/dev/null || { $$SUDO apt-get update -qq && apt-get download prometheus nginx; }; } && \
	  for deb in *.deb; do dpkg-deb -x "$$deb" ..; done && cd .. && rm -rf debs; \
	fi

# Every deploy/ check, with a missing checker a failure rather than a skip.
check-deploy: setup deploy-tools
	STEMEDB_DEPLOY_STRICT=1 $(BUN_TEST) test/deploy test/integration/scratch-root.test.ts test/integration/metrics.test.ts

fmt: setup
	$(BUN) x biome check --write src test bench scripts

# Files derived from tables: docs/CLI.md (the command registry), .env.example (the settings table).
docs: setup
	$(BUN) scripts/docs.ts

build: setup
	$(BUN) build --compile --minify src/main.ts $(WORKERS) $(CKSM_SO) --root src --outfile dist/stemedb

# @stemedb/client: compiled ESM, declarations, its own package.json (docs/CLIENT.md).
client: setup
	$(BUN) scripts/build-client.ts dist/client

bench: setup
	$(BUN) bench/ingest.ts

# Options through the environment: BENCH_ASSERTIONS, BENCH_SUBJECTS, BENCH_SECONDS, … (bench/README.md).
bench-query: setup
	$(BUN) bench/query.ts

# Options through the environment: BENCH_RECORDS, BENCH_QUERIES, BENCH_VARIANTS, BENCH_ROUNDS, … (bench/README.md).
bench-memory: setup
	flock /tmp/stemedb-bench.lock $(BUN) bench/memory.ts

# A quick run by default (200k, 500k); the documented one is BENCH_SIZES=1000000,2000000,5000000,10000000
# (about 20 minutes, 2.4 GB of signed requests cached in .bench/scale-cache, ≈ 4.5 GB of data while it runs).
bench-scale: setup
	flock /tmp/stemedb-bench.lock $(BUN) bench/scale.ts

bench-cascade: setup
	$(BUN) bench/cascade.ts

bench-bundle: setup
	$(BUN) bench/bundle.ts

bench-index: setup
	$(BUN) bench/index-checks.ts 100000

bench-arena: setup
	$(BUN) bench/arena.ts

bench-backup: setup
	$(BUN) bench/backup.ts

bench-guard: setup
	$(BUN) bench/guard.ts

# How routes take their bodies: our strict parse against an Elysia TypeBox schema (docs/BENCHMARKS.md).
bench-schemas: setup
	$(BUN) bench/route-schemas.ts

# Options through BENCH_RECORDS, BENCH_PRELOAD, BENCH_RATE, BENCH_SECONDS.
bench-cluster: setup
	$(BUN) bench/cluster.ts
# Options through the environment: BENCH_NODES (5), BENCH_RUNS (5), BENCH_PRESET (lan).
bench-cluster-detect: setup
	$(BUN) bench/cluster-detect.ts

# Starts its own PostgreSQL 15 (Debian's) as the postgres user. Options through the environment:
# BENCH_RECORDS (200000; 1000000 for the issue's size), BENCH_ROUNDS, … (bench/README.md).
bench-peer: setup
	$(BUN) bench/peer.ts

clean:
	rm -rf dist .bench $(CKSM_SO)
