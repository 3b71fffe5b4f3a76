#!/usr/bin/env bash
# Run `cachekit demo`: a simulated provider call, a miss then a hit, on the
# embedded local backend. Needs Python 3.11+ and network access to PyPI.
source "$(dirname "$0")/_bootstrap.sh"
uv_sync
exec "${UV[@]}" run --no-sync cachekit demo "$@"
