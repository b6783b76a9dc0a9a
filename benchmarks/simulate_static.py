"""Benchmark: time to simulate the static in-silico datasets of the manifest.

    python benchmarks/simulate_static.py [--device cpu|cuda|auto ...] [--animals N] [NAME ...]

Prints, per dataset and device, the wall time of the simulation (no caching),
the number of trials and neurons, and the throughput in trials x neurons per
second. By default it simulates on the CPU, and on CUDA as well where there is
one, so the two can be read side by side; with several devices it prints how
far each device's ground-truth rates are from the first's, and the share of
sampled responses that are identical.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from v1lib.datasets import read_manifest
from v1lib.profiles import device as pick_device
from v1lib.sim.static import StaticConfig, scan_names, simulate_scan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", default=["insilico-static-smoke", "insilico-static"])
    ap.add_argument("--device", action="append", help="cpu, cuda, cuda:N or auto (repeatable)")
    ap.add_argument("--animals", type=int, help="simulate only the first N scans of each dataset")
    args = ap.parse_args()
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    devices = [pick_device(d, source="--device") for d in devices]
    entries = read_manifest()
    print(f"CPU threads: {torch.get_num_threads()}"
          + (f", GPU: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""))
    print(f"{'dataset':<26}{'device':>8}{'seconds':>9}{'scans':>7}{'trials':>9}{'neurons':>9}"
          f"{'Mtrial*neuron/s':>17}")
    for name in args.names:
        entry = entries[name]
        cfg = StaticConfig.from_dict(entry.get("config") or {}, source=name)
        first = None
        for device in devices:
            t0 = time.perf_counter()
            seed = int(entry["seed"])
            names = scan_names(cfg, seed)[: args.animals]
            scans = {scan: simulate_scan(cfg, seed, i, show_progress=False, device=device)
                     for i, scan in enumerate(names)}
            dt = time.perf_counter() - t0
            trials = sum(ds.sizes["trial"] for ds in scans.values())
            neurons = sum(ds.sizes["neuron"] for ds in scans.values())
            work = sum(ds.sizes["trial"] * ds.sizes["neuron"] for ds in scans.values())
            print(f"{name:<26}{device:>8}{dt:>9.1f}{len(scans):>7}{trials:>9}{neurons:>9}"
                  f"{work / dt / 1e6:>17.2f}", flush=True)
            if first is None:
                first = scans
                continue
            a = np.concatenate([first[k].gt_rate.values.ravel() for k in scans])
            b = np.concatenate([scans[k].gt_rate.values.ravel() for k in scans])
            same = np.mean(np.concatenate([first[k].responses.values.ravel()
                                           == scans[k].responses.values.ravel() for k in scans]))
            print(f"  {device} against {devices[0]}: largest |difference| of gt_rate "
                  f"{np.abs(a - b).max() / np.abs(a).max():.1e} of its largest value; "
                  f"{same:.4%} of responses identical")


if __name__ == "__main__":
    main()
