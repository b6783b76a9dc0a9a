"""Sweeps on a Dask cluster: the jobs of :func:`v1lib.parallel.run_jobs` run by
``dask.distributed`` workers instead of processes forked on this machine.

``$V1LIB_EXECUTOR`` (which ``python -m v1lib book --executor`` sets for the
chapters' kernels) names the executor:

* ``processes`` (the default): worker processes forked on this machine
  (:mod:`v1lib.parallel`);
* ``dask`` or ``dask:N``: a ``LocalCluster`` of N worker processes on this
  machine (by default :func:`v1lib.parallel.workers` on a CPU: one per core,
  at most 8, or ``$V1LIB_WORKERS``). Its workers are started, not forked, so on
  a GPU they share the device: a sweep's fits then train side by side on one
  card;
* a scheduler address (``tcp://host:8786``, ``tls://...``): a running cluster;
* ``slurm:N``: N SLURM jobs started through ``dask-jobqueue``, configured as its
  documentation says (``~/.config/dask/jobqueue.yaml``: queue, cores, memory).

Every job runs on one thread, so its result does not depend on the executor.
A job is a closure (it sees the caller's scans); it is sent once to every
worker, and only its arguments and result travel per job. Jobs save what they
train in the results folder, which every worker must see (on a cluster, a
shared file system). The scheduler reruns the jobs of a worker that dies, up
to ``distributed.scheduler.allowed-failures`` times; a rerun fit resumes from
its last checkpoint, and a job that had already finished reloads its model
from the cache, so nothing is lost or trained twice. The cluster starts with
the first sweep and serves every later sweep of the process.
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .progress import progress

ENV = "V1LIB_EXECUTOR"
EXECUTORS = ("processes", "dask", "dask:N", "tcp://host:port", "slurm:N")


@dataclass(frozen=True)
class Executor:
    kind: str  # "local", "address" or "slurm"
    workers: int | None = None  # local: worker processes, slurm: jobs (None: the default)
    address: str | None = None

    def __str__(self) -> str:
        if self.kind == "address":
            return self.address
        return f"{'dask' if self.kind == 'local' else 'slurm'}" + (
            f":{self.workers}" if self.workers else "")


def _count(text: str, value: str, source: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{source}: the number of workers in {value!r} must be a positive "
                         f"integer")
    return int(text)


def executor(value: str | None = None, source: str | None = None) -> Executor | None:
    """The executor ``value`` (by default ``$V1LIB_EXECUTOR``) names; None for
    forked processes on this machine. An error names ``source`` (the option
    ``value`` came from)."""
    source = source or f"${ENV}"
    value = (os.environ.get(ENV, "") if value is None else value).strip()
    if value in ("", "processes"):
        return None
    if value == "dask":
        return Executor("local")
    if value.startswith("dask:"):
        return Executor("local", workers=_count(value[5:], value, source))
    if value.startswith("slurm:"):
        return Executor("slurm", workers=_count(value[6:], value, source))
    scheme, sep, rest = value.partition("://")
    if sep and scheme in ("tcp", "tls", "inproc", "ucx", "ws", "wss") and rest:
        return Executor("address", address=value)
    raise ValueError(f"{source}: unknown executor {value!r}; use one of {', '.join(EXECUTORS)}")


_CLIENTS: dict[Executor, object] = {}


def _start(spec: Executor, local_workers: int):
    """A client of the cluster ``spec`` names (started on first use), a local
    one with ``local_workers`` worker processes unless ``spec`` says how many."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:
        raise ValueError(f"${ENV}={spec}: the Dask executor needs the package 'distributed' "
                         f"(pip install distributed)") from err
    if spec.kind == "address":
        return Client(spec.address)
    if spec.kind == "slurm":
        try:
            from dask_jobqueue import SLURMCluster
        except ImportError as err:
            raise ValueError(f"${ENV}={spec}: a SLURM cluster needs the package "
                             f"'dask-jobqueue' (pip install dask-jobqueue)") from err
        cluster = SLURMCluster()
        cluster.scale(jobs=spec.workers)
        return Client(cluster)
    # Dask starts its workers with MALLOC_TRIM_THRESHOLD_ set, which turns off glibc's
    # adaptive mmap threshold: every tensor of more than 128 KiB is then mapped and
    # unmapped anew, and a fit trains some 70 % slower than in a forked process
    import dask

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        cluster = LocalCluster(n_workers=spec.workers or local_workers, threads_per_worker=1,
                               processes=True, dashboard_address=None,
                               silence_logs=logging.CRITICAL)
    return Client(cluster)


def client(spec: Executor, local_workers: int = 2):
    """The process's client of ``spec``'s cluster."""
    if spec not in _CLIENTS:
        _CLIENTS[spec] = _start(spec, local_workers)
    return _CLIENTS[spec]


@atexit.register
def close() -> None:
    """Close every client this process started (and the local clusters behind them)."""
    while _CLIENTS:
        _, c = _CLIENTS.popitem()
        cluster = getattr(c, "cluster", None)
        c.close()
        if cluster is not None:
            cluster.close()


IN_WORKER = False  # True in a worker: a sweep inside a job runs its jobs in turn, there


def _in_worker(fn: Callable, job: tuple):
    global IN_WORKER
    IN_WORKER = True
    torch.set_num_threads(1)  # the worker runs one job at a time
    return fn(*job)


def run_jobs(fn: Callable, jobs: Sequence[tuple], spec: Executor, desc: str = "jobs",
             unit: str = "model", show_progress: bool = True, local_workers: int = 2) -> list:
    """``[fn(*job) for job in jobs]`` on the cluster ``spec`` names (a local
    cluster started here has ``local_workers`` workers unless ``spec`` says).
    The first job that fails cancels the others and raises its error here; so
    does an interrupt of the caller."""
    from distributed import as_completed

    c = client(spec, local_workers)
    task = c.scatter(fn, broadcast=True, hash=False)
    futures = [c.submit(_in_worker, task, tuple(job), pure=False) for job in jobs]
    index = {f.key: i for i, f in enumerate(futures)}
    results = [None] * len(futures)
    bar = progress(total=len(futures), desc=f"{desc} (Dask, {spec})", unit=unit,
                   disable=not show_progress)
    try:
        for future in as_completed(futures):
            results[index[future.key]] = future.result()
            bar.update(1)
    except BaseException:
        c.cancel(futures)
        raise
    finally:
        bar.close()
        c.cancel(task)
    return results
