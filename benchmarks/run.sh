#!/usr/bin/env bash
# One command for the whole suite: bash benchmarks/run.sh [workload-filter ...] [--rounds N ...]
# Prepares benchmarks/.venv (fast when already set up), runs every workload side by side
# with its peers, prints a markdown table and writes benchmarks/results/latest.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"

bash "$HERE/setup.sh"

export LITELLM_LOCAL_MODEL_COST_MAP=True
cd "$ROOT"
exec "$HERE/.venv/bin/python" -m benchmarks "$@"
