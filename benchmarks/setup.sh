#!/usr/bin/env bash
# Create/refresh the isolated benchmark venv at benchmarks/.venv.
#
# Peers (litellm, aiocache, cashews, ...) are benchmark-only dependencies: they live
# here and nowhere else. The repo's own packages (core/ and plugins/*/) are installed
# editable on top. Idempotent: a stamp keyed on this script and on every local
# pyproject.toml makes a second run a no-op (well under a second).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
VENV="$HERE/.venv"
PY="$VENV/bin/python"
STAMP="$VENV/.setup-stamp"

# Local distributions: core/ plus every plugin with a pyproject.toml (not the template).
local_pkgs=()
if [[ -f "$ROOT/core/pyproject.toml" ]]; then
    local_pkgs+=("$ROOT/core")
fi
for pp in "$ROOT"/plugins/*/pyproject.toml; do
    [[ -f "$pp" ]] || continue
    dir="$(dirname "$pp")"
    [[ "$(basename "$dir")" == "_template" ]] && continue
    local_pkgs+=("$dir")
done

stamp_key() {
    {
        cat "${BASH_SOURCE[0]}"
        for d in "${local_pkgs[@]+"${local_pkgs[@]}"}"; do
            echo "== $d"
            cat "$d/pyproject.toml"
        done
    } | sha256sum | cut -d' ' -f1
}
KEY="$(stamp_key)"

if [[ -x "$PY" && -f "$STAMP" && "$(cat "$STAMP")" == "$KEY" ]]; then
    exit 0
fi

echo "[setup] preparing $VENV" >&2
# uv from PATH, `python3 -m uv`, or installed privately (scripts/_bootstrap.sh): a bare
# machine has none of them until the bootstrap installs one.
# shellcheck source=../scripts/_bootstrap.sh
source "$ROOT/scripts/_bootstrap.sh"
find_uv
uv() { command "${UV[@]}" "$@"; }
if [[ ! -x "$PY" ]]; then
    uv venv --quiet --python "$(command -v python3)" "$VENV"
fi

# Peers. litellm's cache-hit path imports proxy modules: it needs fastapi, orjson and
# soundfile too (litellm[proxy] is not installable). aiobotocore (cachekit-s3's client)
# resolves normally beside litellm's boto3 pin. cryptography: the encryption rows (the
# core's "encryption" extra).
uv pip install --quiet --python "$PY" \
    "litellm==1.110.*" fastapi orjson soundfile \
    aiocache cashews diskcache aiofiles "redis[hiredis]" \
    aiobotocore qdrant-client \
    cryptography pyinstrument \
    opentelemetry-sdk
# Only for workloads/s3_kv.py's floor, which still imports aioboto3: aioboto3 15.5.0 pins
# an aiobotocore older than litellm allows, so it goes in without its dependencies (its
# S3 client is aiobotocore's). cachekit-s3 itself no longer needs it.
uv pip install --quiet --python "$PY" --no-deps "aioboto3==15.5.0"

# The repo's own packages, editable, in one resolve so plugins find the local core.
if ((${#local_pkgs[@]})); then
    args=()
    for d in "${local_pkgs[@]}"; do args+=(-e "$d"); done
    uv pip install --quiet --python "$PY" "${args[@]}"
else
    echo "[setup] warning: $ROOT/core/pyproject.toml not found; cachekit rows will be n/a" >&2
fi

echo "$KEY" > "$STAMP"
echo "[setup] done" >&2
