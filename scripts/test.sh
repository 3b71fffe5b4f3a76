#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need (uv if missing,
# Debian's redis-server if missing, the workspace packages), then lint, types and every
# test. Extra arguments go to pytest, e.g. `bash scripts/test.sh plugins/redis -x`;
# when they name tests (paths, node ids, -k/-m expressions) lint and types are skipped.
source "$(dirname "$0")/_bootstrap.sh"
find_uv

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  SUDO=()
  [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
  say "installing redis-server with apt-get${SUDO:+ (through sudo: not root)}: the Redis tests start their own servers on free loopback ports"
  "${SUDO[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y redis-server
fi

say "syncing the workspace into .venv/ from uv.lock (every package and the dev tools)"
uv_sync

run() { "${UV[@]}" run --no-sync "$@"; }

if selects_tests "$@"; then
  say "skipping ruff and mypy: the arguments select tests (run with no arguments for the full check)"
else
  say "ruff (lint and format)"
  run ruff check .
  run ruff format --check .
  say "mypy (strict)"
  run mypy core/src $(ls -d plugins/*/src) tests/test_types.py
fi
say "pytest $*"
run pytest "$@"
