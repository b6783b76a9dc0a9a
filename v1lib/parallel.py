"""Several models at once on a CPU.

The models of the static chapters are small: a fit barely uses a second core
(on 2 cores, one fit on 2 threads takes 88 % of the time it takes on one), while
two fits on one thread each finish in about 65 % of the time of the two one
after the other. So a sweep runs its jobs in worker processes, one thread each,
as many at once as :func:`workers` says.

On a CPU every job runs on one thread whether it runs in a worker or in the
calling process, so its result does not depend on the number of workers: the order of
floating-point sums, which the thread count changes, is the same. Workers are
forked, so they see the calling process's data (the scans) without copying, and
only a job's arguments and result cross between processes. On a GPU, jobs run
one after the other in the calling process (a forked process cannot use CUDA).
``$V1LIB_EXECUTOR`` sends the jobs to a Dask cluster instead
(:mod:`v1lib.cluster`), on this machine or many, on CPUs or GPUs.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
from collections.abc import Callable, Sequence

import torch

from . import cluster
from .progress import progress

ENV = "V1LIB_WORKERS"  # the number of worker processes, where set
MAX_WORKERS = 8  # the default's cap: each worker holds a model and its optimiser

_TASK: tuple[Callable, Sequence[tuple]] | None = None  # what forked workers run
_IN_WORKER = False


def workers(device="cpu", jobs: int | None = None) -> int:
    """How many jobs run at once: on a CPU, ``$V1LIB_WORKERS`` or the number of
    cores the process may use (at most :data:`MAX_WORKERS`), and never more than
    ``jobs``; 1 on a GPU and inside a worker."""
    if _IN_WORKER or cluster.IN_WORKER or torch.device(device).type != "cpu":
        return 1
    env = os.environ.get(ENV, "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"${ENV} must be a positive integer, got {env!r}")
        n = int(env)
    else:
        n = min(len(os.sched_getaffinity(0)), MAX_WORKERS)
    return max(1, min(n, jobs if jobs is not None else n))


@contextlib.contextmanager
def threads(n: int = 1):
    """torch on ``n`` CPU threads inside the block (the thread count restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _start_worker() -> None:
    global _IN_WORKER
    _IN_WORKER = True
    torch.set_num_threads(1)


def _run_one(index: int):
    fn, jobs = _TASK
    return fn(*jobs[index])


def run_jobs(fn: Callable, jobs: Sequence[tuple], device="cpu", desc: str = "jobs",
             unit: str = "model", show_progress: bool = True) -> list:
    """``[fn(*job) for job in jobs]``; on a CPU, each on one thread and up to
    :func:`workers` jobs at once in forked processes (``fn`` may be a closure;
    its results must pickle).

    A job's exception (an interrupt included) is raised here once the jobs
    already running have finished, so their results stay wherever they save
    them; jobs not yet started are dropped. A worker that dies raises
    ``BrokenProcessPool``. With ``$V1LIB_EXECUTOR`` set, the jobs run on that
    Dask cluster (:func:`v1lib.cluster.run_jobs`)."""
    global _TASK
    jobs = list(jobs)
    spec = None if _IN_WORKER or cluster.IN_WORKER or not jobs else cluster.executor()
    if spec is not None:
        return cluster.run_jobs(fn, jobs, spec, desc=desc, unit=unit, show_progress=show_progress,
                                local_workers=workers("cpu"))
    n = workers(device, len(jobs))
    if n == 1:  # one thread each on a CPU; on a GPU the jobs' CPU work keeps every core
        cpu = torch.device(device).type == "cpu"
        with threads(1) if cpu else contextlib.nullcontext():
            return [fn(*job) for job in progress(jobs, desc=desc, unit=unit,
                                                 disable=not show_progress)]
    if _TASK is not None:
        raise RuntimeError("run_jobs is already running in this process")
    _TASK = (fn, jobs)
    results = [None] * len(jobs)
    pool = concurrent.futures.ProcessPoolExecutor(
        n, mp_context=multiprocessing.get_context("fork"), initializer=_start_worker)
    try:
        futures = {pool.submit(_run_one, i): i for i in range(len(jobs))}
        bar = progress(total=len(jobs), desc=f"{desc} ({n} at once)", unit=unit,
                       disable=not show_progress)
        for future in concurrent.futures.as_completed(futures):
            results[futures[future]] = future.result()
            bar.update(1)
        bar.close()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _TASK = None
    return results
