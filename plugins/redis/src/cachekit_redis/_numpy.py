"""numpy for the ``redis-semantic`` backend, or a clear error naming the extra that brings it.

numpy comes with ``pip install "cachekit-redis[semantic]"``, so that plain
``cachekit-redis`` (the ``redis`` backend) installs and imports without it. Only the
semantic modules import this one, and only when the first ``redis-semantic`` cache is
built; without numpy that build raises :class:`cachekit.ConfigurationError` with the
install line instead of a bare ``ModuleNotFoundError``.
"""

from __future__ import annotations

from cachekit import ConfigurationError

__all__ = ["NUMPY_HINT", "np", "npt"]

NUMPY_HINT = 'the redis-semantic backend needs numpy: pip install "cachekit-redis[semantic]"'

try:
    import numpy as np
    import numpy.typing as npt
except ImportError as exc:
    raise ConfigurationError(NUMPY_HINT) from exc
