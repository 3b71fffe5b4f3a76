#!/usr/bin/env bash
# Run `cachekit demo`: a simulated provider call, a miss then a hit, on the embedded
# local backend. Needs Python 3.11+ and access to PyPI, nothing else: it installs only
# the core (cachekit-core, editable from ./core, and its three dependencies) into a
# private venv, .demo-venv/, with uv if uv is there and with pip otherwise. Later runs
# reuse the venv; delete .demo-venv/ to start again.
source "$(dirname "$0")/_bootstrap.sh"

VENV="$ROOT/.demo-venv"
STAMP="$VENV/.cachekit-core-installed"
WANT="$(cksum <"$ROOT/core/pyproject.toml")"

if [ -x "$VENV/bin/cachekit" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ]; then
  say "using .demo-venv/ (cachekit-core is installed there; delete it to reinstall)"
else
  find_python
  rm -rf "$VENV"
  if command -v uv >/dev/null 2>&1; then
    say "creating .demo-venv/ with uv ($(uv --version))"
    uv venv --python "$PYTHON" "$VENV" >&2
    say "installing cachekit-core from ./core (editable) and its dependencies with uv"
    uv pip install --python "$VENV/bin/python" -e "$ROOT/core" >&2
  else
    make_venv "$VENV"
    say "installing cachekit-core from ./core (editable) and its dependencies with pip"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off -e "$ROOT/core" >&2
  fi
  printf '%s' "$WANT" >"$STAMP"
fi

say "running: cachekit demo${*:+ $*}"
exec "$VENV/bin/cachekit" demo "$@"
