"""Semantic caching: the ``SemanticBackend`` interface, the index step that runs after
an exact miss (prompt text, partition, one embedding per miss), embedders, and the
in-process ``local-semantic`` reference backend."""
