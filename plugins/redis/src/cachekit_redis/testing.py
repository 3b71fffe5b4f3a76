"""Throwaway Redis servers for tests: standalone, a 3-master Cluster, a Sentinel.

Each helper starts Debian's ``redis-server`` binary (``apt-get install redis-server``)
on free ports on ``127.0.0.1``, in a temporary directory, with persistence off
(``--save "" --appendonly no``), waits until it answers, and stops it again::

    from cachekit_redis.testing import RedisServer

    with RedisServer() as server:          # or server = RedisServer().start()
        cache = Cache.from_url(server.url)
        ...
        server.kill()                      # SIGKILL: an outage
        server.start()                     # back on the same port, empty
        server.pause(); server.resume()    # SIGSTOP/SIGCONT: a hung server

    with RedisClusterServer() as cluster:  # 3 masters, all 16384 slots assigned
        Cache.from_url(cluster.url)        # redis+cluster://127.0.0.1:p1,...

    with RedisClusterServer(replicas=1) as cluster:  # + one replica per master
        victim = cluster.node_for_slot(slot)
        victim.kill()                      # its replica is promoted after node_timeout_ms
        cluster.wait_ok()                  # every live node reports cluster_state:ok

    with RedisSentinelServer() as sentinel:  # a master plus one sentinel
        Cache.from_url(sentinel.url)       # redis+sentinel://127.0.0.1:p/mymaster

The helpers are synchronous (call them from fixtures, not from a running event
loop). ``server.command("PTTL", key)`` runs one command on a short-lived
connection, for assertions about what the server holds. Servers still running
at interpreter exit are killed. ``free_port`` is :func:`cachekit.testing.free_port`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import redis
from cachekit.testing import HOST, ServerProcess, free_port

__all__ = [
    "RedisClusterServer",
    "RedisSentinelServer",
    "RedisServer",
    "find_binary",
    "free_port",
]

_STARTUP_TIMEOUT = 15.0
_INSTALL_HINT = "install it with: apt-get install -y redis-server"


def find_binary(name: str = "redis-server") -> str:
    """The path of ``redis-server`` (or ``redis-cli``), or a clear error."""
    found = shutil.which(name) or (
        f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None
    )
    if found is None:
        raise RuntimeError(f"{name} not found; {_INSTALL_HINT}")
    return found


class RedisServer(ServerProcess):
    """One ``redis-server`` process on ``127.0.0.1:port`` (a
    :class:`cachekit.testing.ServerProcess`: ``start``, ``stop``, ``kill``, ``pause``,
    ``resume``, ``close``).

    ``port`` defaults to a free port chosen once, so :meth:`start` after
    :meth:`kill`/:meth:`stop` brings the server back where clients expect it.
    ``password`` sets ``requirepass``; ``extra_args`` are more ``--name value``
    arguments for the server. It counts as started when it answers ``PING``.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        password: str | None = None,
        extra_args: Sequence[str] = (),
        binary: str | None = None,
        directory: str | os.PathLike[str] | None = None,
    ) -> None:
        self.password = password
        self.extra_args = list(extra_args)
        self.binary = binary or find_binary()
        super().__init__(
            port=port, directory=directory, name="redis", startup_timeout=_STARTUP_TIMEOUT
        )

    @property
    def url(self) -> str:
        """``redis://[:password@]127.0.0.1:port/0``."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

    def args(self) -> list[str]:
        args = [
            self.binary,
            "--bind", self.host,
            "--port", str(self.port),
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--logfile", str(self.log_path),
        ]  # fmt: skip
        if self.password:
            args += ["--requirepass", self.password]
        return args + self.extra_args

    def is_ready(self) -> bool:
        return self.command("PING") in (True, b"PONG")

    # -- inspection ----------------------------------------------------------------
    def client(self) -> redis.Redis:
        """A synchronous redis-py client for assertions (close it after use)."""
        return redis.Redis(
            host=self.host,
            port=self.port,
            password=self.password,
            socket_timeout=2.0,
            socket_connect_timeout=2.0,
            protocol=2,
        )

    def command(self, *args: Any) -> Any:
        """Run one command on a fresh connection and return the reply."""
        with self.client() as client:
            return client.execute_command(*args)

    def command_calls(self, name: str) -> int:
        """How many times the server ran command ``name`` (``INFO commandstats``)."""
        stats = self.command("INFO", "commandstats")
        entry = stats.get(f"cmdstat_{name.lower()}")
        return int(entry["calls"]) if entry else 0


class RedisClusterServer:
    """A Redis Cluster of ``masters`` nodes, each with ``replicas`` replicas, on free
    loopback ports. ``node_timeout_ms`` is ``cluster-node-timeout`` (how long a dead
    master goes unnoticed before its replica takes over); ``require_full_coverage``
    false keeps the slots of live masters served while a master is down;
    ``extra_args`` go to every node."""

    def __init__(
        self,
        masters: int = 3,
        *,
        replicas: int = 0,
        node_timeout_ms: int = 2000,
        require_full_coverage: bool = True,
        extra_args: Sequence[str] = (),
        binary: str | None = None,
    ) -> None:
        if masters < 3:
            raise ValueError("redis-cli --cluster create needs at least 3 masters")
        self.replicas = replicas
        self.directory = Path(tempfile.mkdtemp(prefix="cachekit-redis-cluster-"))
        self.nodes: list[RedisServer] = []
        for i in range(masters * (1 + replicas)):
            node_dir = self.directory / f"node-{i}"
            port = free_port()
            extra = [
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(node_dir / "nodes.conf"),
                "--cluster-port", str(free_port()),
                "--cluster-node-timeout", str(node_timeout_ms),
                "--cluster-require-full-coverage", "yes" if require_full_coverage else "no",
                *extra_args,
            ]  # fmt: skip
            self.nodes.append(
                RedisServer(port, extra_args=extra, binary=binary, directory=node_dir)
            )

    @property
    def startup_nodes(self) -> list[dict[str, Any]]:
        """``[{"host": ..., "port": ...}]`` as LiteLLM's ``redis_startup_nodes``."""
        return [{"host": node.host, "port": node.port} for node in self.nodes]

    @property
    def url(self) -> str:
        """``redis+cluster://127.0.0.1:p1,127.0.0.1:p2,...``."""
        return "redis+cluster://" + ",".join(f"{n.host}:{n.port}" for n in self.nodes)

    def start(self) -> RedisClusterServer:
        for node in self.nodes:
            node.start()
        cli = find_binary("redis-cli")
        addresses = [f"{node.host}:{node.port}" for node in self.nodes]
        create = [cli, "--cluster", "create", *addresses, "--cluster-replicas"]
        result = subprocess.run(
            [*create, str(self.replicas), "--cluster-yes"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            self.close()
            raise RuntimeError(
                f"redis-cli --cluster create failed:\n{result.stdout.decode()[-2000:]}"
            )
        try:
            self.wait_ok(_STARTUP_TIMEOUT, synced=True)
        except RuntimeError:
            self.close()
            raise
        return self

    def live_nodes(self) -> list[RedisServer]:
        return [node for node in self.nodes if node.running]

    def wait_ok(self, timeout: float = _STARTUP_TIMEOUT, *, synced: bool = False) -> None:
        """Wait until every live node reports ``cluster_state:ok`` with all 16384 slots
        ok, i.e. served by a master not flagged failing (with
        ``require_full_coverage=False`` the state stays ok while a dead master's slots
        are unserved; ``cluster_slots_ok`` says when its replica took them over), and,
        with ``synced``, every replica's link to its master is up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._node_ok(node, synced) for node in self.live_nodes()):
                return
            time.sleep(0.05)
        raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")

    @staticmethod
    def _node_ok(node: RedisServer, synced: bool) -> bool:
        info = node.command("CLUSTER", "INFO")
        text = info.decode() if isinstance(info, bytes) else str(info)
        if "cluster_state:ok" not in text or "cluster_slots_ok:16384" not in text:
            return False
        if not synced:
            return True
        replication = node.command("INFO", "replication")
        return bool(
            replication.get("role") != "slave" or replication.get("master_link_status") == "up"
        )

    @staticmethod
    def wait_replicated(master: RedisServer, timeout: float = 10.0) -> None:
        """Wait until ``master``'s first replica has every write it took (its
        replication offset caught up), e.g. before killing ``master``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = master.command("INFO", "replication")
            replica = info.get("slave0")
            if replica and int(replica["offset"]) >= int(info["master_repl_offset"]):
                return
            time.sleep(0.02)
        raise RuntimeError(f"the replica of {master.address} did not catch up")

    def wait_failover(self, dead: RedisServer, timeout: float = 30.0) -> None:
        """After ``dead`` was killed: wait until a replica serves its slots (as every
        live node's ``CLUSTER SLOTS`` says) and the cluster is ok again
        (:meth:`wait_ok`). Waiting for ``cluster_state:ok`` alone is not enough: right
        after a kill the cluster has not noticed yet and still reports ok."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            served = [
                int(entry[2][1])
                for node in self.live_nodes()
                for entry in node.command("CLUSTER", "SLOTS")
            ]
            if dead.port not in served:
                self.wait_ok(max(0.0, deadline - time.monotonic()))
                return
            time.sleep(0.05)
        raise RuntimeError(f"no replica took over the slots of {dead.address}")

    def is_ok(self) -> bool:
        """Whether every live node reports ``cluster_state:ok`` and all slots ok right now."""
        return all(self._node_ok(node, False) for node in self.live_nodes())

    def node_for_slot(self, slot: int) -> RedisServer:
        """The master that serves hash slot ``slot`` (as a live node sees it)."""
        for entry in self.live_nodes()[0].command("CLUSTER", "SLOTS"):
            start, end, master = entry[0], entry[1], entry[2]
            if start <= slot <= end:
                port = int(master[1])
                return next(node for node in self.nodes if node.port == port)
        raise LookupError(f"slot {slot} is not served")

    def command_calls(self, name: str) -> int:
        """Calls of command ``name`` summed over every node."""
        return sum(node.command_calls(name) for node in self.live_nodes())

    def close(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> RedisClusterServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _SentinelProcess(RedisServer):
    """``redis-server <config> --sentinel``: the same binary in Sentinel mode."""

    def __init__(self, config: Path, port: int, *, binary: str, directory: Path) -> None:
        super().__init__(port, binary=binary, directory=directory)
        self.config = config

    def args(self) -> list[str]:
        return [self.binary, str(self.config), "--sentinel", "--logfile", str(self.log_path)]


class RedisSentinelServer:
    """A master ``redis-server`` plus one Sentinel (``redis-server --sentinel``)
    watching it under ``service_name``."""

    def __init__(self, service_name: str = "mymaster", *, binary: str | None = None) -> None:
        self.service_name = service_name
        self.master = RedisServer(binary=binary)
        self.port = free_port()
        self.host = HOST
        self.directory = self.master.directory
        self._binary = binary or find_binary()
        self._config = self.directory / "sentinel.conf"
        self.sentinel = _SentinelProcess(
            self._config, self.port, binary=self._binary, directory=self.directory / "sentinel"
        )

    @property
    def sentinel_nodes(self) -> list[tuple[str, int]]:
        """``[(host, port)]`` as LiteLLM's ``sentinel_nodes``."""
        return [(self.host, self.port)]

    @property
    def url(self) -> str:
        """``redis+sentinel://127.0.0.1:port/<service_name>``."""
        return f"redis+sentinel://{self.host}:{self.port}/{self.service_name}"

    def start(self) -> RedisSentinelServer:
        self.master.start()
        self._config.write_text(
            f"bind {self.host}\nport {self.port}\ndir {self.directory}\n"
            f"sentinel monitor {self.service_name} {self.master.host} {self.master.port} 1\n"
        )
        self.sentinel.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            reply = self.sentinel.command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service_name)
            if reply and int(reply[1]) == self.master.port:
                return self
            time.sleep(0.05)
        self.close()
        raise RuntimeError("the Sentinel did not report its master")

    def close(self) -> None:
        self.sentinel.stop()
        self.master.close()

    def __enter__(self) -> RedisSentinelServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
