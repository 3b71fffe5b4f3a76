"""Measure what killed writers leave behind (issue 15, item 11); a script, not a test.

    .venv/bin/python plugins/disk/tests/leftovers.py [--kills 40] [--writes 50]
        [--size 20000] [--cap BYTES] [--dir DIR]

Runs ``--kills`` write storms (``_procs.py storm``: 20 keys overwritten again and
again, values of 1-4x ``--size`` bytes), SIGKILLs each after ``--writes`` writes,
then counts the files under ``<dir>/disk-v1``: live entries and everything else
(temporary files, spare inodes, trash, owner markers; not the two lock files).
Then a fresh process writes one entry (no ``prune()``), and the count is taken
again: what the backend cleans up on its own.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

PROCS = Path(__file__).with_name("_procs.py")
LOCKS = {".cachekit-disk", ".cachekit-disk-evict"}


def census(root: Path) -> dict[str, int]:
    """Files and bytes (apparent size and allocated blocks) by kind."""
    out = dict.fromkeys(("entries", "entry_bytes", "other", "other_bytes", "other_disk_bytes"), 0)
    for directory, _, files in os.walk(root):
        for name in files:
            if name in LOCKS:
                continue
            try:
                st = os.lstat(os.path.join(directory, name))
            except FileNotFoundError:
                continue
            if len(name) == 64 and ".trash-" not in directory:
                out["entries"] += 1
                out["entry_bytes"] += st.st_size
            else:
                out["other"] += 1
                out["other_bytes"] += st.st_size
                out["other_disk_bytes"] += st.st_blocks * 512
    return out


def run(*args: str | int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(PROCS), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def storm_and_kill(directory: str, size: int, writes: int, cap: int | None) -> None:
    proc = run("storm", directory, size, "unnamed", *([cap] if cap else []))
    assert proc.stdout is not None
    for _ in range(writes):
        if not proc.stdout.readline():
            raise SystemExit(f"storm died: {proc.communicate()[1][-2000:]}")
    proc.send_signal(signal.SIGKILL)
    proc.communicate()


def show(label: str, counts: dict[str, int]) -> None:
    print(
        f"{label}: {counts['entries']} entries ({counts['entry_bytes'] / 1e6:.1f} MB); "
        f"{counts['other']} other files ({counts['other_bytes'] / 1e6:.1f} MB, "
        f"{counts['other_disk_bytes'] / 1e6:.1f} MB on disk)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--kills", type=int, default=40)
    parser.add_argument("--writes", type=int, default=50)
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--cap", type=int, default=None)
    parser.add_argument("--dir", default=None, help="kept afterwards (default: a temp dir)")
    args = parser.parse_args()
    directory = args.dir or tempfile.mkdtemp(prefix="cachekit-leftovers-")
    root = Path(directory) / "disk-v1"
    for _ in range(args.kills):
        storm_and_kill(directory, args.size, args.writes, args.cap)
    show(f"after {args.kills} writer kills", census(root))
    writer = run("write", directory, 99, 1, 1, 100, *([args.cap] if args.cap else []))
    _, err = writer.communicate(timeout=300)
    assert writer.returncode == 0, err[-2000:]
    show("after one write by a new process", census(root))
    if args.cap:
        print(f"cap: {args.cap / 1e6:.1f} MB")
    if args.dir is None:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
