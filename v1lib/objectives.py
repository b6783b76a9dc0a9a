"""What training minimises and early stopping watches: an objective gives the
loss of a batch and the validation score (higher is better), and says which
parts of a sample count (a burn-in period of a recurrent model does not).

* :class:`Poisson`: neural responses (neuralpredictors' ``standard_trainer``):
  the Poisson loss summed over the batch and scaled by sqrt(samples / batch
  size); validation score: the mean over neurons of the correlation of
  prediction and response.
* :class:`CrossEntropy`: class labels (task training); validation score:
  accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


def poisson_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target * torch.log(pred + 1e-12)).sum()


def batch_corr(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Per-column Pearson correlation (ddof=0, eps as in neuralpredictors)."""
    xm, ym = x - x.mean(0), y - y.mean(0)
    return (xm * ym).mean(0) / ((x.std(0, unbiased=False) + eps) * (y.std(0, unbiased=False) + eps))


@dataclass(frozen=True)
class Poisson:
    burn_in: int = 0  # leading time steps (axis 1) left out of loss and score
    name: str = "poisson"
    score_name: str = "correlation"

    def counted(self, x: torch.Tensor) -> torch.Tensor:
        """The part of predictions or targets (B, [T,] N) that counts."""
        if not self.burn_in:
            return x
        if x.dim() < 3:
            raise ValueError(f"a burn-in of {self.burn_in} steps needs a time axis (B, T, N); "
                             f"got shape {tuple(x.shape)}")
        return x[:, self.burn_in:]

    def loss(self, pred: torch.Tensor, target: torch.Tensor, n_samples: int) -> torch.Tensor:
        scale = math.sqrt(n_samples / pred.shape[0])
        return scale * poisson_loss(self.counted(pred.float()), self.counted(target))

    def score(self, preds: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> float:
        """Mean correlation over the neurons of all scans (time bins pooled)."""
        flat = lambda x: self.counted(x).reshape(-1, x.shape[-1])
        corrs = [batch_corr(flat(preds[s]), flat(targets[s])) for s in preds]
        return float(torch.nan_to_num(torch.cat(corrs)).mean())


@dataclass(frozen=True)
class CrossEntropy:
    name: str = "cross_entropy"
    score_name: str = "accuracy"

    def loss(self, pred: torch.Tensor, target: torch.Tensor, n_samples: int) -> torch.Tensor:
        return F.cross_entropy(pred.float(), target)

    def score(self, preds: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> float:
        hits = torch.cat([(preds[s].argmax(-1) == targets[s]).float() for s in preds])
        return float(hits.mean()) if len(hits) else 0.0

