"""Benchmark: training speed of the static-image models.

    python benchmarks/train_static.py [--profile cpu|gpu|smoke] [--variant gaussian_full]
                                      [--steps 20] [--no-convergence] [--data NAME]
                                      [--float32-too]

Prints, for the profile's model and data (the first animal of the comparison):

* throughput: images per second of training steps alone (forward, backward,
  Adam; one batch of every scan per step), after a warm-up; the FLOP/s that
  makes (counted by torch's FLOP counter: convolutions and matrix products)
  against the rate of a float32 matrix product measured in the same process;
* readout-only throughput: the same steps on a frozen core whose features are
  computed once (how transfer readouts train);
* evaluation throughput: images per second of prediction;
* convergence: a full training run (no cache), its epochs, wall time, best
  validation correlation, the time to reach 95 % of it, and the test scores
  (on simulated data, the fractions of the ground-truth ceilings). On CUDA,
  training runs under bfloat16 autocast; ``--float32-too`` trains the same
  model in float32 as well, to show what bfloat16 costs in quality and gains
  in time.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from v1lib import profiles
from v1lib.datasets import load
from v1lib.evaluation import evaluate
from v1lib.model_cache import build_model
from v1lib.objectives import Poisson
from v1lib.predict import autocast, core_features, float32_only, predict_tier
from v1lib.studies.static import replicates, study_settings, variant_config
from v1lib.tensors import prepare
from v1lib.train import fit


def sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(device, n: int = 2048, repeats: int = 10) -> float:
    """FLOP/s of a float32 n x n matrix product on ``device`` (the reference rate)."""
    a = torch.randn(n, n, device=device)
    for _ in range(2):
        a @ a
    sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ a
    sync(device)
    return 2 * n**3 * repeats / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="auto")
    ap.add_argument("--variant", default="gaussian_full")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--no-convergence", action="store_true")
    ap.add_argument("--data", help="dataset (default: the profile's)")
    ap.add_argument("--float32-too", action="store_true",
                    help="on CUDA, also train in float32 (without bfloat16 autocast)")
    args = ap.parse_args()

    prof = profiles.load(args.profile)
    device = profiles.device(prof["parameters"].get("device", "auto"))
    settings = study_settings(args.profile)
    scans = load(args.data or prof["parameters"]["data"], show_progress=False)
    first = replicates(scans, settings)[0][0]  # chapter 2 trains one model per animal
    scans = {first: scans[first]}
    model_cfg, train_cfg = variant_config(args.profile, args.variant)
    tensors = prepare(scans, device)
    model = build_model(tensors, model_cfg, 0).to(device)
    objective = Poisson()
    n_neurons = sum(d.info.n_neurons for d in tensors.values())
    print(f"profile {prof['name']}, device {device}, threads {torch.get_num_threads()}, "
          f"{len(scans)} scans, {n_neurons} neurons, variant {args.variant}")
    print(f"core {model_cfg.core}")
    print(f"parameters: core {model.n_parameters('core'):,}, all {model.n_parameters('all'):,}")

    opt = torch.optim.Adam(model.parameters(), lr=train_cfg.lr)
    B = train_cfg.batch_size
    gen = torch.Generator().manual_seed(0)

    def step(features=None):
        opt.zero_grad(set_to_none=True)
        for s, d in tensors.items():
            i = d.tiers["train"][torch.randint(len(d.tiers["train"]), (B,), generator=gen).to(device)]
            with autocast(device):
                pred = model(s, **d.batch(i),
                             **({} if features is None else {"features": features[s][i]}))
            (objective.loss(pred, d.targets[i], d.n_samples)
             + model.regularizer(s, core=features is None)).backward()
        opt.step()

    model.train()
    for _ in range(3):
        step()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync(device)
    dt = time.perf_counter() - t0
    print(f"training: {args.steps * B * len(tensors) / dt:,.0f} images/s "
          f"({1000 * dt / args.steps:.0f} ms per step of {len(tensors)} x {B} images)")
    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    achieved, peak = flops * args.steps / dt, matmul_peak(device)
    print(f"achieved: {achieved / 1e9:,.1f} GFLOP/s ({flops / (B * len(tensors)) / 1e6:,.0f} "
          f"MFLOP per image, forward and backward), {100 * achieved / peak:.1f} % of this "
          f"device's float32 matmul rate, measured here: {peak / 1e9:,.0f} GFLOP/s")

    # readout-only training on a frozen core reads features computed once (transfer)
    feats = core_features(model, tensors)
    model.core.requires_grad_(False)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step(feats)
    sync(device)
    dt = time.perf_counter() - t0
    model.core.requires_grad_(True)
    print(f"readout-only training (frozen core, features computed once): "
          f"{args.steps * B * len(tensors) / dt:,.0f} images/s")

    sync(device)
    t0 = time.perf_counter()
    preds = predict_tier(model, tensors, "test")
    sync(device)
    dt = time.perf_counter() - t0
    print(f"evaluation: {sum(len(p) for p in preds.values()) / dt:,.0f} images/s")

    if args.no_convergence:
        return
    cuda = torch.device(device).type == "cuda"
    runs = [("bfloat16 autocast" if cuda else "float32", contextlib.nullcontext)]
    if cuda and args.float32_too:
        runs.append(("float32", float32_only))
    for name, precision in runs:
        with precision():
            converge(name, scans, tensors, model_cfg, train_cfg, device)


def converge(name, scans, tensors, model_cfg, train_cfg, device) -> None:
    """One full training run from the same initialisation, and its test scores."""
    model = build_model(tensors, model_cfg, 0).to(device)
    t0 = time.perf_counter()
    hist = fit(model, tensors, train_cfg, 0, show_progress=False)
    total = time.perf_counter() - t0
    best = float(hist.val_score.max())
    reached = hist.seconds.values[hist.val_score.values >= 0.95 * best][0]
    _, summary, _ = evaluate(model, tensors, scans)
    fractions = ", ".join(f"{k.removesuffix('_fraction')} {v:.3f}" for k, v in summary.items()
                          if k.endswith("ceiling_fraction"))
    print(f"convergence ({name}): {int(hist.attrs['epochs'])} epochs in {total:.0f} s "
          f"({hist.attrs['stopped']}); best validation correlation {best:.3f}, 95 % of it "
          f"after {reached:.0f} s; test correlation {summary['single_trial_corr']:.3f}"
          + (f"; fraction of {fractions}" if fractions else ""), flush=True)


if __name__ == "__main__":
    main()
