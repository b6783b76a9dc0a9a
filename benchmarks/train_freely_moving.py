"""Benchmark: speed of the multimodal model of freely moving mice (Xu et al.
2023) on this machine.

    python benchmarks/train_freely_moving.py [--profile cpu|gpu|smoke] [--neurons 70]
                                             [--steps 5] [--device auto|cpu|cuda]
                                             [--variants full vision frames_4 ...]

For each variant of the profile's ``freely_moving_models`` section (default:
the full model, vision only, and 4 frames), on batches of the profile's size of
random 60 x 80 frames and behaviour (the speed does not depend on the
content), it prints

* training throughput: bins per second of training steps (forward, backward,
  Adam), after a warm-up step;
* prediction throughput: bins per second without gradients;
* the time of one epoch over 4,800 training bins (a 7-minute session's), and
  peak memory of the GPU, where one is used.

On CUDA the steps run under bfloat16 autocast, as training does; on a CPU on
the profile's thread count (one: the book trains two models side by side).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from v1lib import profiles
from v1lib.models.normalizer import InputStats, ScanInfo
from v1lib.objectives import Poisson
from v1lib.parallel import threads
from v1lib.predict import autocast
from v1lib.studies.freely_moving import model_configs
from v1lib.tensors import HISTORY

SHAPE = (60, 80)
EPOCH_BINS = 4800


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def scan_info(n: int) -> ScanInfo:
    return ScanInfo(n_neurons=n, cortical_xy=None,
                    inputs={"stimulus": InputStats(np.asarray(0.0), np.asarray(1.0), True),
                            "behavior": InputStats(np.zeros(6, np.float32), np.ones(6, np.float32),
                                                   True)},
                    response_std=np.ones(n, np.float32), response_mean=np.ones(n, np.float32))


def batch(b: int, n: int, device) -> tuple[dict, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    inputs = {"stimulus": torch.randn(b, HISTORY, 1, *SHAPE, generator=g),
              "behavior": torch.randn(b, HISTORY, 6, generator=g)}
    return {k: v.to(device) for k, v in inputs.items()}, torch.rand(b, n, generator=g).to(device)


def measure(variant: str, profile: str, n: int, steps: int, device) -> str:
    model_cfg, train_cfg = model_configs(profile, variant)
    torch.manual_seed(0)
    model = model_cfg.build({"scan": scan_info(n)}, SHAPE).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=train_cfg.lr)
    b = train_cfg.batch_size
    inputs, target = batch(b, n, device)
    model.train()
    for k in range(steps + 1):
        if k == 1:  # the first step warms up
            sync(device)
            t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with autocast(device):
            pred = model("scan", **inputs)
        loss = Poisson().loss(pred, target, EPOCH_BINS) + model.regularizer("scan")
        loss.backward()
        opt.step()
    sync(device)
    train_bps = steps * b / (time.perf_counter() - t0)
    model.eval()
    with torch.no_grad(), autocast(device):
        model("scan", **inputs)
        sync(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            model("scan", **inputs)
        sync(device)
    predict_bps = steps * b / (time.perf_counter() - t0)
    return (f"{variant:>15}: {model.n_parameters():>9,} parameters; training {train_bps:8.0f} bins/s "
            f"(an epoch of {EPOCH_BINS} bins: {EPOCH_BINS / train_bps:6.1f} s); predicting "
            f"{predict_bps:8.0f} bins/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--neurons", type=int, default=70)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--variants", nargs="+", default=["full", "vision", "frames_4"])
    args = ap.parse_args()
    device = profiles.device(args.device)
    n_threads = model_configs(args.profile)[1].threads
    print(f"profile {profiles.resolve(args.profile)}, device {device}, {args.neurons} neurons, "
          f"{n_threads} CPU thread(s)")
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with threads(n_threads):
        for v in args.variants:
            print(measure(v, args.profile, args.neurons, args.steps, device), flush=True)
    if torch.device(device).type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
