"""Benchmark: v1lib against neuralpredictors, the field's standard library, on the
same simulated scan, the same machine and the same number of threads.

    python benchmarks/compare_neuralpredictors.py [--data insilico-static] [--channels 64]
        [--threads 2] [--max-epochs 200] [--seconds S] [--peer-env DIR]

The peer is neuralpredictors 0.3.0's Sensorium 2022 baseline (its
``Stacked2dCore`` and ``FullGaussian2d`` readout with the cortex grid predictor),
trained by the recipe of Sensorium's ``standard_trainer`` (Adam at 0.009, batches
of 128, patience 5, four learning-rate decays); it runs in a throwaway virtual
environment that this script makes (``--peer-env`` keeps one to reuse), since
neuralpredictors 0.3.0 needs shims on Python >= 3.10 that v1lib must not carry
(``neuralpredictors_peer.py``). Ours is the same architecture and recipe through
``v1lib.train.fit`` (the gpu profile's static model with ``--channels``), which
differs in two ways of its own: channels-last convolutions, and readout biases
that start at each neuron's mean response (as Lurz et al.'s code does; the
Sensorium baseline starts them at 0). Both see the first scan's images and
responses normalised by v1lib, and both are scored by v1lib's metric code on
the test tier.

Prints, for each side and epoch, the wall seconds of training (validation
included) and the test scores of the model early stopping would keep at that
point (the best on validation so far): single-trial correlation, fraction
oracle and, on simulated data, the fraction of the stimulus-only ceiling; then
the peer's best (the test score of the model its early stopping ends with),
when each side first reached it, and the ratio of those times.
Not part of the tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from v1lib import profiles
from v1lib.datasets import load
from v1lib.evaluation import evaluate, neuron_scores, summarize, tier_samples
from v1lib.model_cache import build_model
from v1lib.studies.static import variant_config
from v1lib.tensors import prepare
from v1lib.train import fit

HERE = Path(__file__).resolve().parent
PEER = ["torch==2.13.0", "neuralpredictors==0.3.0", "scikit-image"]
SCORE = "gt_stimulus_only_ceiling_fraction"  # image-only models: the ceiling they can reach


def peer_python(env: Path, system_packages: bool = False, wheels: str | None = None) -> Path:
    """The throwaway environment's python, made (with neuralpredictors) if missing:
    with ``system_packages``, on top of this Python's packages (its torch, e.g. a
    CUDA build); with ``wheels``, from that folder of wheels only (no index)."""
    python = env / "bin" / "python"
    if not python.exists():
        packages = PEER[1:] if system_packages else PEER
        print(f"making the peer's environment ({' '.join(packages)}) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(env),
                        *(["--system-site-packages"] if system_packages else [])], check=True)
        source = ["--no-index", "--find-links", wheels] if wheels else []
        subprocess.run([str(python), "-m", "pip", "install", "-q", *source, *packages],
                       check=True)
    return python


def export(tensors, scan: str, path: Path) -> None:
    """What the peer trains on: v1lib's normalised tensors of ``scan``."""
    d = tensors[scan]
    np.savez(path, images=d.inputs["stimulus"].cpu().numpy(), responses=d.targets.cpu().numpy(),
             cortical_xy=d.info.cortical_xy[:, :2],
             **{t: d.tiers[t].cpu().numpy() for t in ("train", "validation", "test")})


def scores_of(pred: np.ndarray, tensors, scans, scan: str, samples) -> dict:
    """v1lib's population scores of normalised test predictions ``pred``."""
    resp = samples[scan].responses
    values = (pred * tensors[scan].info.response_std).astype(np.float32)
    return summarize(neuron_scores(resp, resp.copy(data=values), samples[scan]))


def run_peer(python: Path, tensors, scans, scan: str, args, tmp: Path) -> list[dict]:
    export(tensors, scan, tmp / "data.npz")
    subprocess.run([str(python), str(HERE / "neuralpredictors_peer.py"), str(tmp / "data.npz"),
                    str(tmp / "peer.npz"), "--channels", str(args.channels), "--threads",
                    str(args.threads), "--max-epochs", str(args.max_epochs), "--seconds",
                    str(args.seconds), "--device", args.device], check=True)
    out = np.load(tmp / "peer.npz")
    samples = tier_samples(tensors, scans, "test")
    kept = {int(e): scores_of(p, tensors, scans, scan, samples)
            for e, p in zip(out["kept_epochs"], out["predictions"])}
    rows, current = [], None
    for epoch, seconds, val in out["history"]:
        current = kept.get(int(epoch), current)
        rows.append({"epoch": int(epoch), "seconds": float(seconds), "val": float(val), **current})
    return rows


def run_ours(tensors, scans, scan: str, args, tmp: Path) -> list[dict]:
    """Our fit, one epoch at a time (resumed from its checkpoint), scored after each."""
    model_cfg, train_cfg = variant_config("gpu", "gaussian", {"core": {"channels": args.channels}})
    train_cfg = dataclasses.replace(train_cfg, threads=args.threads)
    model = build_model(tensors, model_cfg, 42).to(args.device)
    rows = []
    for k in range(1, args.max_epochs + 1):
        history = fit(model, tensors, dataclasses.replace(train_cfg, max_epochs=k), 42,
                      checkpoint=tmp / "ours.pt", show_progress=False)
        if history.sizes["epoch"] < k:  # stopped early at the last call
            break
        s = evaluate(model, tensors, scans, "test")[1]
        rows.append({"epoch": k, "seconds": float(history.seconds[-1]),
                     "val": float(history.val_score[-1]), **s})
        print(f"ours epoch {k:3d}  {rows[-1]['seconds']:7.1f} s  validation {rows[-1]['val']:.4f}"
              f"  test {SCORE} {s[SCORE]:.3f}", flush=True)
        if rows[-1]["seconds"] >= args.seconds:
            break
    return rows


def first_reaching(rows: list[dict], target: float) -> dict | None:
    return next((r for r in rows if r[SCORE] >= target - 1e-9), None)


def report(name: str, rows: list[dict]) -> None:
    print(f"\n{name}: epoch  seconds  validation  single-trial  fraction oracle  {SCORE}")
    for r in rows:
        print(f"{'':>{len(name)}}  {r['epoch']:5d}  {r['seconds']:7.1f}  {r['val']:10.4f}  "
              f"{r['single_trial_corr']:11.4f}  {r['fraction_oracle']:15.4f}  {r[SCORE]:.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="insilico-static")
    ap.add_argument("--channels", type=int, default=64, help="core channels (the baseline: 64)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-epochs", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=float("inf"),
                    help="stop each side's training after this many seconds")
    ap.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    ap.add_argument("--peer-env", help="keep the peer's environment here (default: throwaway)")
    ap.add_argument("--peer-system-packages", action="store_true",
                    help="make the peer's environment on top of this Python's packages (torch)")
    ap.add_argument("--peer-wheels", help="install the peer's packages from this folder only")
    args = ap.parse_args()
    args.device = profiles.device(args.device)
    torch.set_num_threads(args.threads)
    scans = load(args.data, show_progress=False)
    scan = next(iter(scans))
    scans = {scan: scans[scan]}
    tensors = prepare(scans, args.device)
    print(f"data {args.data}, scan {scan}: {tensors[scan].info.n_neurons} neurons, "
          f"{len(tensors[scan].tiers['train'])} training images; core 4 x {args.channels}; "
          f"device {args.device}, {args.threads} threads; torch {torch.__version__}")
    tmp = Path(tempfile.mkdtemp(prefix="v1lib-peer-"))
    try:
        python = peer_python(Path(args.peer_env) if args.peer_env else tmp / "env",
                             args.peer_system_packages, args.peer_wheels)
        peer = run_peer(python, tensors, scans, scan, args, tmp)
        ours = run_ours(tensors, scans, scan, args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report("neuralpredictors", peer)
    report("v1lib", ours)
    target = peer[-1][SCORE]  # the model its early stopping ends with
    t_peer, t_ours = first_reaching(peer, target), first_reaching(ours, target)
    print(f"\npeer's best {SCORE} (its early-stopped model): {target:.4f}, first reached after "
          f"{t_peer['seconds']:.1f} s (epoch {t_peer['epoch']}); v1lib's: {ours[-1][SCORE]:.4f}")
    if t_ours is None:
        print("v1lib did not reach the peer's best")
    else:
        print(f"v1lib reached it after {t_ours['seconds']:.1f} s (epoch {t_ours['epoch']}): "
              f"{t_peer['seconds'] / t_ours['seconds']:.2f} x faster")


if __name__ == "__main__":
    main()
