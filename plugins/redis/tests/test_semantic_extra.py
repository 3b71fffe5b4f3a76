"""numpy is the ``semantic`` extra: plain ``cachekit-redis`` works without it, and
``redis-semantic`` without it says which install line brings it."""

from __future__ import annotations

from cachekit.testing import modules_imported_by
from cachekit_redis.testing import RedisServer

#: Makes numpy unimportable in a fresh interpreter, as on a machine that installed
#: ``cachekit-redis`` without the ``[semantic]`` extra.
WITHOUT_NUMPY = """
import sys

class _NoNumpy:
    def find_spec(self, name, path=None, target=None):
        if name == "numpy" or name.startswith("numpy."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoNumpy())
"""


def test_redis_semantic_without_numpy_names_the_extra(redis_server: RedisServer) -> None:
    code = WITHOUT_NUMPY + (
        "from cachekit import Cache, ConfigurationError\n"
        "try:\n"
        f"    Cache(type='redis-semantic', host='127.0.0.1', port={redis_server.port})\n"
        "except ConfigurationError as exc:\n"
        "    assert str(exc) == 'the redis-semantic backend needs numpy: "
        'pip install "cachekit-redis[semantic]"\', str(exc)\n'
        "    assert isinstance(exc.__cause__, ModuleNotFoundError)\n"
        "else:\n"
        "    raise AssertionError('redis-semantic was built without numpy')\n"
    )
    assert "numpy" not in modules_imported_by(code)


def test_plain_redis_round_trip_needs_no_numpy(redis_server: RedisServer) -> None:
    code = WITHOUT_NUMPY + (
        "from cachekit import Cache\n"
        f"with Cache(type='redis', host='127.0.0.1', port={redis_server.port},"
        " namespace='no-numpy') as cache:\n"
        "    cache.set('k', {'v': 1})\n"
        "    assert cache.get('k') == {'v': 1}\n"
        "    assert cache.clear() == 1\n"
    )
    loaded = modules_imported_by(code)
    assert "cachekit_redis._backend" in loaded
    assert "numpy" not in loaded
