"""A model's predictions over the samples of a tier, batch by batch, without gradients."""

from __future__ import annotations

import contextlib

import torch

from .tensors import ScanTensors

_BFLOAT16 = [True]  # False inside float32_only()


def autocast(device):
    """bfloat16 autocast on CUDA; a no-op elsewhere (CPU runs stay in float32)."""
    dev = torch.device(device)
    if dev.type == "cuda" and _BFLOAT16[0]:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast(dev.type if dev.type == "cuda" else "cpu", enabled=False)


@contextlib.contextmanager
def float32_only():
    """Inside the block, training and prediction on CUDA run in float32 too: the
    reference against which the benchmarks measure what bfloat16 costs."""
    _BFLOAT16[0] = False
    try:
        yield
    finally:
        _BFLOAT16[0] = True


def samples_per_batch(d: ScanTensors, batch_size: int, budget: int = 2**21) -> int:
    """``batch_size``, or fewer samples where each is large (whole clips): about
    ``budget`` stimulus values per batch."""
    per_sample = max(1, d.inputs["stimulus"][0].numel()) if "stimulus" in d.inputs else 1
    return max(1, min(batch_size, budget // per_sample))


@torch.no_grad()
def predict_tier(model, tensors: dict[str, ScanTensors], tier: str, batch_size: int = 512,
                 features: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """The model's (normalised) predictions for every scan on ``tier``; with
    ``features`` (a frozen core's :func:`core_features`), read from them."""
    model.eval()
    out = {}
    for scan, d in tensors.items():
        idx = d.tiers[tier]
        parts = []
        step = samples_per_batch(d, batch_size)
        for s in range(0, len(idx), step):
            i = idx[s:s + step]
            extra = {"features": features[scan][i]} if features is not None else {}
            with autocast(d.device):
                parts.append(model(scan, **d.batch(i), **extra).float())
        out[scan] = torch.cat(parts) if parts else d.targets[:0].float()
    return out


@torch.no_grad()
def core_features(model, tensors: dict[str, ScanTensors],
                  batch_size: int = 512) -> dict[str, torch.Tensor]:
    """The core's output for every sample of every scan, in evaluation mode."""
    model.core.eval()
    out = {}
    for scan, d in tensors.items():
        x = d.inputs["stimulus"]
        parts = []
        step = samples_per_batch(d, batch_size)
        for s in range(0, d.n_samples, step):
            with autocast(d.device):
                parts.append(model.core(x[s:s + step]).float())
        out[scan] = torch.cat(parts)
    return out
