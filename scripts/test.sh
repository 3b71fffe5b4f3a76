#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need (uv, the
# workspace packages, Debian's redis-server), then lint, types and every test.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh plugins/redis -x`.
source "$(dirname "$0")/_bootstrap.sh"

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  echo "==> installing redis-server (Debian package; the tests start their own servers)" >&2
  SUDO=(); [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq redis-server >/dev/null
fi

echo "==> syncing the workspace (.venv)" >&2
uv_sync

run() { "${UV[@]}" run --no-sync "$@"; }

echo "==> ruff" >&2
run ruff check .
run ruff format --check .
echo "==> mypy (strict)" >&2
run mypy core/src $(ls -d plugins/*/src 2>/dev/null || true) tests/test_types.py
echo "==> pytest" >&2
run pytest "$@"
