"""Benchmark: time to simulate the static in-silico datasets of the manifest.

    python benchmarks/simulate_static.py [NAME ...]

Prints, per dataset, the wall time of the simulation (no caching), the number
of trials and neurons, and the throughput in trials x neurons per second.
"""

from __future__ import annotations

import sys
import time

import torch

from v1lib.datasets import read_manifest
from v1lib.sim.static import StaticConfig, simulate_static


def main(names: list[str]) -> None:
    torch.set_num_threads(torch.get_num_threads())
    entries = read_manifest()
    names = names or ["insilico-static-smoke", "insilico-static"]
    print(f"threads: {torch.get_num_threads()}")
    print(f"{'dataset':<26}{'seconds':>9}{'scans':>7}{'trials':>9}{'neurons':>9}"
          f"{'Mtrial*neuron/s':>17}")
    for name in names:
        entry = entries[name]
        cfg = StaticConfig.from_dict(entry.get("config") or {}, source=name)
        t0 = time.perf_counter()
        scans = simulate_static(cfg, int(entry["seed"]), show_progress=False)
        dt = time.perf_counter() - t0
        trials = sum(ds.sizes["trial"] for ds in scans.values())
        neurons = sum(ds.sizes["neuron"] for ds in scans.values())
        work = sum(ds.sizes["trial"] * ds.sizes["neuron"] for ds in scans.values())
        print(f"{name:<26}{dt:>9.1f}{len(scans):>7}{trials:>9}{neurons:>9}{work / dt / 1e6:>17.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
