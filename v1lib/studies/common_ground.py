"""The book's closing benchmark: every model of the book on the data it was
built for, and every claim with its verdict, read from the ledger the
chapters write (:mod:`v1lib.ledger`; each study's ``ledger_entries``).

Nothing here trains or scores a model; each number is one a chapter computed.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..ledger import PAPERS, VERDICTS, Ledger

# the chapters that record models or claims, in book order
RECORDING = ("02_readouts", "03_core_transfer", "04_predicting_video", "05_domain_transfer",
             "06_orientation_tuning", "07_freely_moving", "09_mousenet",
             "10_task_vs_data_cores")
CORRELATION = "test correlation"  # the score of every model but the task networks' (RSA)
PAPER_COLORS = {"lurz": "C0", "sinz": "C1", "xu": "C2", "shi": "C3"}
VERDICT_COLORS = {"reproduced": "#4c9a2a", "not reproduced": "#c0392b",
                  "not testable here": "#9e9e9e"}


def missing(ledger: Ledger) -> list[str]:
    """The recording chapters that have not written to this ledger."""
    return [c for c in RECORDING if c not in ledger.chapters]


def _span(m: float, lo: float, hi: float) -> str:
    if not np.isfinite(m):
        return "-"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{m:.2f} (no interval)"
    return f"{m:.2f} [{lo:.2f}, {hi:.2f}]"


def _duration(seconds: float) -> str:
    if not np.isfinite(seconds):
        return "-"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def model_table(ledger: Ledger) -> pd.DataFrame:
    """One row per model: chapter, paper, data, the score its fractions are
    of, fraction of the true and of the observable ceiling (mean [95 %
    t-interval] over its replicates), trainable parameters and training time
    (mean over its runs, as recorded when it was trained)."""
    m = ledger.models
    return pd.DataFrame({
        "chapter": m.chapter.str[:2], "model": m.model, "paper": m.paper.map(PAPERS),
        "data": m.data, "score": m.score,
        "fraction of true ceiling": [_span(*r) for r in m[["fraction_true", "fraction_true_lo",
                                                           "fraction_true_hi"]].values],
        "fraction of observable ceiling": [
            _span(*r) for r in m[["fraction_observable", "fraction_observable_lo",
                                  "fraction_observable_hi"]].values],
        "replicates": [f"{int(n)} {u[:-1] if int(n) == 1 else u}"
                       for n, u in zip(m.replicates, m.unit)],
        "trainable parameters": [f"{p:,.0f}" if np.isfinite(p) else "-" for p in m.parameters],
        "training time": [_duration(s) for s in m.train_seconds]}).set_index(["chapter", "model"])


def claims_table(ledger: Ledger) -> pd.DataFrame:
    """Every claim, by paper: published, ours, verdict and why."""
    c = ledger.claims.assign(paper=lambda d: d.paper.map(PAPERS),
                             chapter=lambda d: d.chapter.str[:2])
    return c[["paper", "chapter", "claim", "published", "ours", "verdict", "why"]].set_index(
        ["paper", "chapter"]).sort_index(level=0, sort_remaining=False)


def verdict_counts(ledger: Ledger) -> pd.DataFrame:
    """Claims per paper and verdict (every paper and verdict present, zeros kept)."""
    c = ledger.claims
    counts = pd.crosstab(c.paper, c.verdict) if len(c) else pd.DataFrame()
    counts = counts.reindex(index=list(PAPERS), columns=list(VERDICTS), fill_value=0)
    counts.index = [PAPERS[p] for p in counts.index]
    return counts.astype(int)


def ceiling_figure(ledger: Ledger, key: str = "fraction_true", ax=None):
    """Each model's fraction of a ceiling (``fraction_true`` or
    ``fraction_observable``) with its 95 % interval, grouped by chapter and
    coloured by paper."""
    m = ledger.models
    ax = ax or plt.subplots(figsize=(8, 0.3 * max(len(m), 3) + 1))[1]
    y = np.arange(len(m))[::-1]
    for p, color in PAPER_COLORS.items():
        sel = (m.paper == p).values
        if not sel.any():
            continue
        lo, hi = m[f"{key}_lo"].values[sel], m[f"{key}_hi"].values[sel]
        mean = m[key].values[sel]
        err = np.where(np.isfinite(lo), [mean - lo, hi - mean], 0)
        ax.barh(y[sel], mean, xerr=err, color=color, alpha=0.8, label=PAPERS[p], capsize=2)
    ax.set_yticks(y, [f"{c[:2]}  {n}" for c, n in zip(m.chapter, m.model)], fontsize=7)
    ax.axvline(1.0, color="k", lw=0.8, ls="--")
    what = "true" if key == "fraction_true" else "observable"
    ax.set_xlabel(f"fraction of the {what} ceiling (mean, 95 % t-interval)")
    _legend(ax, loc="lower right")
    return ax


def _legend(ax, **kw) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, **kw)


def cost_figure(ledger: Ledger, axes=None):
    """Fraction of the observable ceiling against trainable parameters and
    against training time (log scales), one point per model."""
    m = ledger.models
    axes = axes if axes is not None else plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)[1]
    for ax, key, label in ((axes[0], "parameters", "trainable parameters"),
                           (axes[1], "train_seconds", "training time (s, as recorded)")):
        for p, color in PAPER_COLORS.items():
            sel = (m.paper == p).values & np.isfinite(m[key].values) & (m[key].values > 0)
            if sel.any():
                ax.scatter(m[key].values[sel], m.fraction_observable.values[sel], color=color,
                           label=PAPERS[p], s=22)
        ax.set_xscale("log")
        ax.set_xlabel(label)
    axes[0].set_ylabel("fraction of observable ceiling")
    _legend(axes[0])
    return axes


def verdict_figure(ledger: Ledger, ax=None):
    """Claims per paper, stacked by verdict."""
    counts = verdict_counts(ledger)
    ax = ax or plt.subplots(figsize=(6, 2.8))[1]
    left = np.zeros(len(counts))
    for v in VERDICTS:
        ax.barh(counts.index, counts[v].values, left=left, color=VERDICT_COLORS[v], label=v)
        left += counts[v].values
    ax.invert_yaxis()
    ax.set_xlabel("claims tested (count)")
    _legend(ax, loc="lower right")
    return ax


def summary_text(ledger: Ledger) -> str:
    """The verdicts per paper in words, and the closest and farthest models
    from their true ceiling."""
    counts = verdict_counts(ledger)
    lines = []
    for paper, row in counts.iterrows():
        n = int(row.sum())
        if n:
            lines.append(f"* **{paper}**: of {n} claim{'s' if n > 1 else ''} tested, "
                         + ", ".join(f"{int(row[v])} {v}" for v in VERDICTS if row[v]) + ".")
    m = ledger.models
    m = m[np.isfinite(m.fraction_true.astype(float)) & (m.score == CORRELATION)]
    if len(m):
        best, worst = m.loc[m.fraction_true.idxmax()], m.loc[m.fraction_true.idxmin()]
        at = lambda r: f"the {r.model} (chapter {r.chapter[:2]}, {r.fraction_true:.2f})"
        lines.append(f"\nOf the models scored by test correlation, closest to its true ceiling "
                     f"(mean over replicates): {at(best)}; farthest: {at(worst)}.")
    return "\n".join(lines) if lines else "No chapter has recorded under this profile yet."
