#!/usr/bin/env bash
# test-postgres.sh — run the domain tests (approvals/) against PostgreSQL:
# starts a throwaway cluster (scripts/pg-test-cluster.sh) in a fresh
# directory, runs the suite with JITDESK_TEST_STORE=postgres (every test
# gets a database of its own on that cluster, see pgstore/pgtest), and
# stops the cluster whatever happens.
#
#   scripts/test-postgres.sh            # with -race
#   RACE= scripts/test-postgres.sh      # without
#   scripts/test-postgres.sh -run Audit # extra go test flags
set -euo pipefail

cd "$(dirname "$0")/.."
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.26.10}
RACE=${RACE--race}

PG_TEST_DIR=$(mktemp -d)
export PG_TEST_DIR
trap 'scripts/pg-test-cluster.sh stop || true; rm -rf "$PG_TEST_DIR"' EXIT

eval "$(scripts/pg-test-cluster.sh start)"
export JITDESK_TEST_POSTGRES JITDESK_TEST_STORE=postgres

# shellcheck disable=SC2086 # RACE is empty or one flag
go test $RACE -count=1 "$@" ./approvals/ ./pgstore/pgtest/
