"""Locks on a results folder (one sweep at a time) and on a run (one process per run spec).

A lock is an ``flock`` on a small file that says who holds it (pid, host, start time, what for). The
kernel releases an ``flock`` when its holder dies, however it dies (kill -9 included), so a lock file
left by a dead process is stale by construction: the next taker finds it unlocked and takes it over.
The file itself is only there to name the holder in the refusal message.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import sys
from pathlib import Path

FOLDER_LOCK = ".bench.lock"  # in a results folder: held by the sweep writing it
RUN_LOCKS = "locks"  # OUT/locks/SPEC_HASH.lock: held by the process training that run


class LockHeld(Exception):
    """Someone else holds the lock; the message names them."""


class FileLock:
    """An exclusive, non-blocking ``flock`` on ``path``; ``what`` says what the holder is doing."""

    def __init__(self, path: str | Path, what: str):
        self.path, self.what = Path(path), what
        self.fd: int | None = None

    def acquire(self) -> "FileLock":
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by child processes
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise LockHeld(holder) from None
            try:
                same_file = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same_file = False
            if same_file:  # else the last holder removed it between our open and our lock: try again
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder_record(self.what)).encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink()  # while still holding it: a waiting opener sees another inode and retries
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> "FileLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def holder_record(what: str) -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "what": what,
            "since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode())
        return f"pid {info['pid']} on {info['host']} since {info['since']} ({info['what']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (it has not written its name yet)"


def folder_lock(out_dir: str | Path) -> FileLock:
    """The lock a sweep holds on its results folder while it writes there."""
    return FileLock(Path(out_dir) / FOLDER_LOCK, "bench " + " ".join(sys.argv[1:])[:200])


def run_lock(out_dir: str | Path, spec_hash: str) -> FileLock:
    """The lock the process training run ``spec_hash`` holds (checkpoints, epochs.csv of that run)."""
    folder = Path(out_dir) / RUN_LOCKS
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(folder / f"{spec_hash}.lock", f"training run {spec_hash}")
