"""Benchmark: how fast a sweep of independent fits trains, one after the other
against side by side (forked processes, or a Dask cluster: ``V1LIB_EXECUTOR``).

    python benchmarks/sweep_throughput.py [--profile auto] [--fits 4] [--epochs 3]
        [--executor processes|dask:N|...] [--data NAME]

Trains ``--fits`` copies of the profile's Gaussian-readout model on its first
animal (seeds 1, 2, ...), each for ``--epochs`` epochs, into a throwaway results
folder: first one fit alone, then all of them through ``v1lib.parallel.run_jobs``
(so through the executor named). Prints the wall time, fits per minute and
training images per second of both, and the speed-up of the sweep per fit.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from v1lib import cluster, parallel, profiles
from v1lib.datasets import load
from v1lib.model_cache import fit_cached
from v1lib.studies.static import variant_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="auto")
    ap.add_argument("--fits", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--data", help="dataset (default: the profile's)")
    ap.add_argument("--executor", help="as $V1LIB_EXECUTOR (default: its value, or processes)")
    args = ap.parse_args()
    if args.executor:
        cluster.executor(args.executor, source="--executor")
        os.environ[cluster.ENV] = args.executor
    prof = profiles.load(args.profile)
    device = profiles.device(prof["parameters"].get("device", "auto"))
    scans = load(args.data or prof["parameters"]["data"], show_progress=False)
    first = next(iter(scans))
    scans = {first: scans[first].load()}  # read once, before any timing
    model_cfg, train_cfg = variant_config(args.profile, "gaussian")
    train_cfg = dataclasses.replace(train_cfg, patience=args.epochs + 1)  # no early stop
    images = args.epochs * int((scans[first].tier == "train").sum())
    tmp = Path(tempfile.mkdtemp(prefix="v1lib-sweep-"))

    def one(seed: int, where: str, epochs: int) -> float:
        cfg = dataclasses.replace(train_cfg, max_epochs=epochs)
        fit_cached(scans, model_cfg, cfg, seed, tmp / where, device, show_progress=False)
        return 0.0

    executor = os.environ.get(cluster.ENV) or "processes"
    print(f"profile {prof['name']}, device {device}, scan {first}, {args.epochs} epochs of "
          f"{images // args.epochs} images per fit, executor {executor}, "
          f"{parallel.workers(device, args.fits)} forked workers where forked; "
          f"torch {torch.__version__}")
    try:  # a cluster's start, first imports and first steps (warm-up fits) are not timed
        parallel.run_jobs(one, [(-1, "warm-up", 1)], device, show_progress=False)
        parallel.run_jobs(one, [(-2 - k, "warm-up", 1) for k in range(args.fits)], device,
                          show_progress=False)
        t0 = time.perf_counter()
        parallel.run_jobs(one, [(0, "alone", args.epochs)], device, show_progress=False)
        alone = time.perf_counter() - t0
        t0 = time.perf_counter()
        parallel.run_jobs(one, [(k + 1, "sweep", args.epochs) for k in range(args.fits)], device,
                          desc="sweep", show_progress=False)
        sweep = time.perf_counter() - t0
    finally:
        cluster.close()
        shutil.rmtree(tmp, ignore_errors=True)
    for name, n, seconds in (("one fit", 1, alone), (f"{args.fits} fits", args.fits, sweep)):
        print(f"{name:>10}: {seconds:7.1f} s, {60 * n / seconds:6.2f} fits/min, "
              f"{n * images / seconds:9,.0f} training images/s")
    print(f"sweep speed-up per fit: {args.fits * alone / sweep:.2f} x")


if __name__ == "__main__":
    main()
