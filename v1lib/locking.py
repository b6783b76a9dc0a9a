"""One lock discipline for every shared cache: datasets, trained models,
analysis results and executed chapters.

A cache entry is made under :func:`locked` and written atomically
(:func:`v1lib.cache.atomic_path`: a temporary file in the same folder, then
``os.replace``)::

    if not done(path):
        with locked(path):
            if not done(path):  # another process may have made it meanwhile
                make(path)

so a second process asking for the same entry waits for the first, then finds
the finished entry and reuses it; readers that take no lock never see a
half-written file. The lock is ``fcntl.flock`` on a lock file: ``.<name>.lock``
beside a file entry, ``<folder>/.lock`` inside a folder entry. Its holder
removes it before letting go, and a waiter that then holds the lock of a removed
file opens the new one, so no lock file stays behind and no two processes ever
hold the lock at once. The lock ends with the process that holds it, even one
killed by SIGKILL, so a crash never blocks the next run (it may leave its lock
file, which the next run reuses). It holds between processes and threads of one
machine, and across machines (Dask workers) on a shared file system whose locks
work (local disks; NFS on Linux). A lock is not re-entrant: a process must not
take the lock of an entry it already holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from pathlib import Path


def lock_file(path: str | os.PathLike, folder: bool = False) -> Path:
    """The lock file of the cache entry ``path``, a file or (``folder``) a folder."""
    path = Path(path)
    return path / ".lock" if folder else path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def locked(path: str | os.PathLike, folder: bool = False, timeout: float | None = None,
           log=None):
    """Hold the inter-process lock of the cache entry ``path`` (a file, or with
    ``folder`` a folder, created if missing and removed again if left empty).
    Waits while another process holds it, saying so once through ``log``
    (default: a line on stderr); after ``timeout`` seconds (``None``: no limit)
    raises :class:`TimeoutError`."""
    lock = lock_file(path, folder)
    created = folder and not lock.parent.is_dir()
    deadline = None if timeout is None else time.monotonic() + timeout
    waited = False
    while True:
        try:
            lock.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except (FileNotFoundError, FileExistsError):
            if lock.parent.exists() and not lock.parent.is_dir():
                raise  # a file where the entry's folder should be
            # the folder was removed meanwhile (mkdir found it, then it was gone
            # before mkdir checked it was a folder): make it again
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not waited:
                (log or _stderr)(f"waiting for another process to finish {path}")
                waited = True
            try:
                _wait(fd, lock, deadline, timeout)
            except BaseException:
                os.close(fd)
                raise
        if _is_current(fd, lock):
            break
        os.close(fd)  # its holder removed that lock file: lock the new one
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)  # while still holding it
        if created:  # nothing was made in it: leave no empty folder behind
            with contextlib.suppress(OSError):
                lock.parent.rmdir()
        os.close(fd)  # closing the file releases the lock


def _wait(fd: int, lock: Path, deadline: float | None, timeout: float | None) -> None:
    if deadline is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{lock}: still held by another process after {timeout:g} s"
                                   ) from None
            time.sleep(0.05)


def _is_current(fd: int, lock: Path) -> bool:
    """Whether ``fd`` is the file now at ``lock`` (not one removed meanwhile)."""
    try:
        now = os.stat(lock)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
