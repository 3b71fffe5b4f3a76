"""The LLM-call layer: requests and their keys (hooks and overrides included), the
fail-open lookups and stores on top of the engine, LiteLLM's method names, the
``cached`` wrapper with its stream and per-item embedding paths, and the global cache."""
