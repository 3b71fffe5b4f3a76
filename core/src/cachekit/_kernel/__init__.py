"""The plugin kernel: building the pluggy manager, the backend and embedder
registries, routing ``Cache(...)`` options to a backend factory by its signature, and
the URL schemes plugins register for ``Cache.from_url``."""
