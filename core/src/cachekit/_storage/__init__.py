"""Storage: the byte-level backend interface and the built-in in-process backends
(``local`` and the L1 tier). Backends store opaque bytes; policy lives elsewhere."""
