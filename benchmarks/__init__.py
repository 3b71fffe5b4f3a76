"""cachekit benchmark harness (benchmark-only; not shipped). Run: bash benchmarks/run.sh."""
