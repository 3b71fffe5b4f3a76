"""Policy: pure rules with no I/O — cache keys, per-call controls and lifetimes, the
stored entry format and how typed responses are rebuilt. Imports nothing from the
engine, the LLM-call layer or the facade."""
