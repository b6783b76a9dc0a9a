"""Benchmark: speed of the video models (Sinz et al. 2018) on this machine.

    python benchmarks/train_video.py [--profile cpu|gpu|smoke] [--neurons 1000]
                                     [--steps 5] [--device auto|cpu|cuda]

For the recurrent model and the LN baseline of the profile (``video_models``),
with shifter and modulator and a point-pooled readout of ``--neurons``
neurons, on batches of the profile's size and window (random clips of 36 x 64
frames: the speed does not depend on the content), it prints

* training throughput: frames per second of training steps (forward, backward,
  Adam), after a warm-up step;
* prediction throughput: frames per second of whole 300-frame clips without
  gradients;
* peak memory of the GPU, where one is used.

On CUDA the steps run under bfloat16 autocast, as training does.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from v1lib import profiles
from v1lib.models.normalizer import InputStats, ScanInfo
from v1lib.predict import autocast
from v1lib.studies.video import CORE_TYPES, model_configs


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def scan_info(n: int) -> ScanInfo:
    stats = lambda k: InputStats(np.zeros(k, np.float32), np.ones(k, np.float32), True)
    return ScanInfo(n_neurons=n, cortical_xy=np.random.default_rng(0).uniform(0, 600, (n, 2)),
                    inputs={"stimulus": InputStats(np.asarray(0.0), np.asarray(1.0), True),
                            "eye": stats(2), "behavior": stats(3)},
                    response_std=np.ones(n, np.float32), response_mean=np.ones(n, np.float32))


def batch(b: int, t: int, n: int, device) -> tuple[dict, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    inputs = {"stimulus": torch.randn(b, 1, t, 36, 64, generator=g),
              "eye": torch.randn(b, t, 2, generator=g), "behavior": torch.randn(b, t, 3, generator=g)}
    target = torch.rand(b, t, n, generator=g)
    return {k: v.to(device) for k, v in inputs.items()}, target.to(device)


def measure(name: str, profile: str, n: int, steps: int, device) -> None:
    model_cfg, train_cfg, objective = model_configs(profile, name)
    torch.manual_seed(0)
    model = model_cfg.build({"scan": scan_info(n)}, (36, 64)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=train_cfg.lr)
    b, t = train_cfg.batch_size, train_cfg.window or 150
    inputs, target = batch(b, t, n, device)
    model.train()
    for k in range(steps + 1):
        if k == 1:  # the first step warms up
            sync(device)
            t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with autocast(device):
            pred = model("scan", **inputs)
        loss = objective.loss(pred, target, 100) + model.regularizer("scan")
        loss.backward()
        opt.step()
    sync(device)
    train_fps = steps * b * t / (time.perf_counter() - t0)
    clips, _ = batch(2, 300, n, device)
    model.eval()
    with torch.no_grad(), autocast(device):
        model("scan", **clips)
        sync(device)
        t0 = time.perf_counter()
        model("scan", **clips)
        sync(device)
    predict_fps = 2 * 300 / (time.perf_counter() - t0)
    params = sum(p.numel() for p in model.core.parameters())
    print(f"{name:10s} core params {params:7d}  batch {b} x {t} frames  "
          f"train {train_fps:8.0f} frames/s  predict {predict_fps:8.0f} frames/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="auto")
    ap.add_argument("--neurons", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    device = profiles.device(args.device)
    print(f"profile {profiles.resolve(args.profile)}, device {device}, "
          f"{torch.get_num_threads()} CPU threads, {args.neurons} neurons")
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for name in CORE_TYPES:
        measure(name, args.profile, args.neurons, args.steps, device)
    if torch.device(device).type == "cuda":
        print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
