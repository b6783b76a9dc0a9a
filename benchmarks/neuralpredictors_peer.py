"""The peer side of ``compare_neuralpredictors.py``: neuralpredictors 0.3.0's
Sensorium 2022 baseline (``Stacked2dCore`` + ``FullGaussian2d`` with the cortex
grid predictor, ELU + 1) trained by the recipe of Sensorium's
``standard_trainer``, on data the comparison wrote. It runs in the throwaway
environment that holds neuralpredictors, and never imports v1lib.

    python neuralpredictors_peer.py DATA.npz OUT.npz --channels 64 --threads 2 --seed 42 \
        [--max-epochs 200] [--seconds S] [--device cuda]

Writes, per epoch, the wall seconds of training (with the trainer's own
validation), the validation correlation, and the test predictions of every
epoch that improved on validation (the model early stopping would keep).
"""

from __future__ import annotations

import argparse
import collections
import collections.abc
import importlib
import math
import sys
import time
import types
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# neuralpredictors 0.3.0 imports the abstract base classes from collections (gone
# since Python 3.10) and torchvision (for a core that is not used here)
for _name in ("Iterable", "Mapping", "MutableMapping", "Sequence", "Callable"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))
try:
    importlib.import_module("torchvision")
except Exception:  # noqa: BLE001 - absent, or broken beside this torch
    sys.modules["torchvision"] = types.ModuleType("torchvision")

warnings.filterwarnings("ignore", message="Readout is NOT initialized")  # as Sensorium's is
from neuralpredictors.layers.cores import Stacked2dCore  # noqa: E402
from neuralpredictors.layers.readouts import FullGaussian2d  # noqa: E402
from neuralpredictors.measures.modules import PoissonLoss  # noqa: E402
from neuralpredictors.training import early_stopping  # noqa: E402


class Baseline(nn.Module):
    """Sensorium 2022's ``stacked_core_full_gauss_readout`` for one scan."""

    def __init__(self, channels: int, shape: tuple[int, int], n_neurons: int, xy: np.ndarray):
        super().__init__()
        self.core = Stacked2dCore(
            input_channels=1, hidden_channels=channels, input_kern=9, hidden_kern=7, layers=4,
            gamma_input=6.3831, skip=0, final_nonlinearity=True, bias=False, momentum=0.9,
            pad_input=False, batch_norm=True, hidden_dilation=1, laplace_padding=None,
            input_regularizer="LaplaceL2norm", stack=-1, depth_separable=True, linear=False,
            use_avg_reg=False)
        with torch.no_grad():
            c, h, w = self.core(torch.zeros(1, 1, *shape)).shape[1:]
        self.readout = FullGaussian2d(
            in_shape=(c, h, w), outdims=n_neurons, bias=True, init_mu_range=0.3, init_sigma=0.1,
            gauss_type="full", source_grid=xy.astype(np.float32), feature_reg_weight=0.0076,
            grid_mean_predictor={"hidden_layers": 1, "hidden_features": 30, "final_tanh": True})

    def forward(self, x):
        return F.elu(self.readout(self.core(x))) + 1

    def regularizer(self):
        return self.core.regularizer() + self.readout.regularizer()


@torch.no_grad()
def predict(model, x, batch=512):
    model.eval()
    return torch.cat([model(x[i:i + batch]).float() for i in range(0, len(x), batch)])


def mean_corr(pred, y):
    p, t = pred - pred.mean(0), y - y.mean(0)
    return float(((p * t).mean(0) / (p.std(0, unbiased=False) * t.std(0, unbiased=False) + 1e-8))
                 .mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--max-epochs", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=float("inf"), help="stop after this long")
    ap.add_argument("--lr", type=float, default=0.009)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    d = np.load(a.data)
    x, y = torch.from_numpy(d["images"]).to(a.device), torch.from_numpy(d["responses"]).to(a.device)
    train, val, test = (torch.from_numpy(d[k]).to(a.device) for k in ("train", "validation", "test"))
    model = Baseline(a.channels, tuple(x.shape[-2:]), y.shape[1], d["cortical_xy"]).to(a.device)
    criterion = PoissonLoss(avg=False)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="max", factor=0.3, patience=5, threshold=1e-6, min_lr=1e-4, threshold_mode="abs")
    gen = torch.Generator().manual_seed(a.seed)
    stop = lambda m: mean_corr(predict(m, x[val]), y[val])  # noqa: E731
    seconds, best, rows, kept = 0.0, -math.inf, [], {}
    last = time.perf_counter()
    for epoch, _ in early_stopping(model, stop, interval=1, patience=5, max_iter=a.max_epochs,
                                   maximize=True, tolerance=1e-6, restore_best=True,
                                   scheduler=scheduler, lr_decay_steps=4):
        model.train()
        order = train[torch.randperm(len(train), generator=gen).to(a.device)]
        for i in range(0, len(order), a.batch_size):
            b = order[i:i + a.batch_size]
            scale = math.sqrt(len(x) / len(b))  # the size of the whole dataset, as there
            loss = scale * criterion(model(x[b]), y[b]) + model.regularizer()
            opt.zero_grad()
            loss.backward()
            opt.step()
        if x.is_cuda:
            torch.cuda.synchronize()
        seconds += time.perf_counter() - last  # the trainer's validation included
        score = stop(model)  # the record below is not timed
        rows.append((epoch, seconds, score))
        if score > best + 1e-6:
            best, kept[epoch] = score, predict(model, x[test]).cpu().numpy()
        print(f"peer epoch {epoch:3d}  {seconds:7.1f} s  validation {score:.4f}", flush=True)
        if seconds >= a.seconds:
            break
        last = time.perf_counter()
    np.savez(a.out, history=np.array(rows), kept_epochs=np.array(sorted(kept)),
             predictions=np.stack([kept[e] for e in sorted(kept)]))


if __name__ == "__main__":
    main()
