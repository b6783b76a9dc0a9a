"""The book's ledger: what each chapter found, kept for the closing chapter.

A chapter ends with :func:`record` of what its study's ``ledger_entries``
returns: one row per model (how close it comes to the simulated V1's
ceilings on the data it was built for, its trainable parameters and its
training time) and one row per claim of its paper (the published number,
ours with its 95 % interval, and the verdict). They go to
``results/ledger/<profile>/<chapter>.nc`` (atomically, with provenance);
:func:`read` gathers every chapter's for one profile.

Verdicts (:data:`VERDICTS`) follow one rule, written once here
(:func:`change_claim`, :func:`range_claim`, :func:`direction_claim`): a
claim is *reproduced* where our interval resolves the paper's effect in the
paper's direction (or overlaps its range), *not reproduced* where it excludes
the paper's effect, and *not testable here* where the interval contains both
no effect and the paper's, or where there is no interval at all.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from . import paths, profiles
from .cache import atomic_path, netcdf_attrs, provenance
from .stats import Interval, t_interval, verdict

REPRODUCED, NOT_REPRODUCED, UNTESTABLE = "reproduced", "not reproduced", "not testable here"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, UNTESTABLE)
PAPERS = {"sinz": "Sinz et al. 2018", "lurz": "Lurz et al. 2021", "xu": "Xu et al. 2023",
          "shi": "Shi et al. 2022"}


@dataclass(frozen=True)
class Claim:
    paper: str  # a key of PAPERS
    claim: str  # what the paper says, in a sentence
    published: str  # the paper's number, with its unit
    ours: str  # our estimate: mean [95 % interval] (replicates)
    verdict: str  # one of VERDICTS
    why: str


def change_claim(paper: str, claim: str, iv: Interval, reported: float, unit: str = "",
                 replicates: str = "animals", published: str | None = None) -> Claim:
    """A claim of a change (a gain, a difference, a ratio minus one) of size
    ``reported``, judged by our interval ``iv`` of the same change
    (``published``: how to show the paper's number, default ``reported``)."""
    published = published or f"{reported:+g}{unit}"
    ours = _ours(iv, unit, replicates)
    said = verdict(iv, reported, "the paper's change")
    if not iv.known:
        return Claim(paper, claim, published, ours, UNTESTABLE, f"Our estimate {said}.")
    if iv.excludes(0):
        same = (iv.mean > 0) == (reported > 0)
        return Claim(paper, claim, published, ours, REPRODUCED if same else NOT_REPRODUCED,
                     f"The change {said}.")
    if iv.lo <= reported <= iv.hi:
        return Claim(paper, claim, published, ours, UNTESTABLE,
                     f"The change {said}: too few replicates to tell.")
    return Claim(paper, claim, published, ours, NOT_REPRODUCED, f"The change {said}.")


def range_claim(paper: str, claim: str, iv: Interval, lo: float, hi: float, unit: str = "",
                replicates: str = "animals") -> Claim:
    """A claim of a level, reported as the range [``lo``, ``hi``] over the
    paper's mice: reproduced where our interval overlaps it and is no wider
    than twice the range (as precise as the spread of the paper's mice), not
    reproduced where it lies outside it."""
    published = f"{lo:g}–{hi:g}{unit}"
    ours = _ours(iv, unit, replicates, signed=False)
    if not iv.known:
        return untestable(paper, claim, published, _no_interval(iv), ours)
    if iv.hi < lo or iv.lo > hi:
        side = "below" if iv.hi < lo else "above"
        return Claim(paper, claim, published, ours, NOT_REPRODUCED,
                     f"Our 95 % interval lies {side} the paper's range.")
    if iv.hi - iv.lo > 2 * (hi - lo):
        return Claim(paper, claim, published, ours, UNTESTABLE,
                     "Our 95 % interval overlaps the paper's range but is more than twice as "
                     "wide: too few replicates to tell.")
    return Claim(paper, claim, published, ours, REPRODUCED,
                 "Our 95 % interval overlaps the paper's range.")


def direction_claim(paper: str, claim: str, iv: Interval, sign: int,
                    replicates: str = "animals") -> Claim:
    """A claim of a direction only (``sign`` +1: a gain, -1: a loss), without a
    published size."""
    want = "a gain" if sign > 0 else "a loss"
    ours = _ours(iv, replicates=replicates)
    if not iv.known:
        return untestable(paper, claim, want, _no_interval(iv), ours)
    if not iv.excludes(0):
        return untestable(paper, claim, want, "Our 95 % interval contains 0: not resolved at "
                          "this number of replicates.", ours)
    same = (iv.mean > 0) == (sign > 0)
    return Claim(paper, claim, want, ours, REPRODUCED if same else NOT_REPRODUCED,
                 f"Our 95 % interval excludes 0 {'in' if same else 'against'} the paper's "
                 "direction.")


def _no_interval(iv: Interval) -> str:
    return "One replicate gives no interval." if iv.n == 1 else "No replicate gives a value."


def untestable(paper: str, claim: str, published: str, why: str, ours: str = "-") -> Claim:
    """A claim these data cannot test, and why."""
    return Claim(paper, claim, published, ours, UNTESTABLE, why)


def _ours(iv: Interval, unit: str = "", replicates: str = "animals", signed: bool = True) -> str:
    if not np.isfinite(iv.mean):
        return "-"
    digits = 1 if unit.strip() == "%" else 3
    units = replicates[:-1] if iv.n == 1 and replicates.endswith("s") else replicates
    return f"{iv.span(signed=signed, digits=digits)}{unit} ({iv.n} {units})"


MODEL_FIELDS = ("model", "paper", "data", "fraction_true", "fraction_true_lo",
                "fraction_true_hi", "fraction_observable", "fraction_observable_lo",
                "fraction_observable_hi", "parameters", "train_seconds", "replicates", "unit",
                "score")


def model_rows(study: xr.Dataset, paper: str, data: str, labels: dict[str, str], dim="variant",
               unit: str = "animal", true: str = "gt_ceiling_fraction",
               observable: str = "gt_observable_ceiling_fraction",
               score: str = "test correlation") -> list[dict]:
    """One row per model ``labels`` names along ``dim`` of a study's results:
    its fractions of the true and observable ceilings (mean and 95 % t-interval
    over ``unit``, each unit's mean over any other dim first), parameters and
    training seconds (means over its runs); NaN where the study lacks a
    variable (e.g. no ground truth on recorded data)."""
    rows = []
    for key, label in labels.items():
        if key not in study[dim].values:
            continue
        sel = study.sel({dim: key})
        t, o = _over_units(sel, true, unit), _over_units(sel, observable, unit)
        rows.append({"model": label, "paper": paper, "data": data_name(data),
                     "fraction_true": t.mean, "fraction_true_lo": t.lo, "fraction_true_hi": t.hi,
                     "fraction_observable": o.mean, "fraction_observable_lo": o.lo,
                     "fraction_observable_hi": o.hi, "parameters": _mean(sel, "parameters"),
                     "train_seconds": _mean(sel, "train_seconds"), "replicates": max(t.n, o.n),
                     "unit": f"{unit}s", "score": score})
    return rows


def data_name(data) -> str:
    """A dataset's name, or a file's name without its folder (the user's data)."""
    return Path(str(data)).name


def _over_units(sel: xr.Dataset, name: str, unit: str) -> Interval:
    if name not in sel:
        return t_interval([])
    v = sel[name]
    return t_interval(v.mean([d for d in v.dims if d != unit]).values if v.ndim > 1 else v.values)


def _mean(sel: xr.Dataset, name: str) -> float:
    return float(sel[name].mean()) if name in sel else float("nan")


def record(chapter: str, profile: str, models: list[dict], claims: list[Claim],
           results_dir=None) -> None:
    """Write the chapter's models and claims to the ledger of ``profile``."""
    bad = [c.verdict for c in claims if c.verdict not in VERDICTS]
    if bad:
        raise ValueError(f"ledger of {chapter}: unknown verdict(s) {bad}; use {VERDICTS}")
    unknown = sorted(({r["paper"] for r in models} | {c.paper for c in claims}) - set(PAPERS))
    if unknown:
        raise ValueError(f"ledger of {chapter}: unknown paper(s) {unknown}; use {list(PAPERS)}")
    missing = [f for r in models for f in MODEL_FIELDS if f not in r]
    if missing:
        raise ValueError(f"ledger of {chapter}: model rows lack {sorted(set(missing))}")
    ds = xr.Dataset(
        {**{f: ("model", [r[f] for r in models]) for f in MODEL_FIELDS if f != "model"},
         **{_stored(f.name): ("claim_index", np.array([getattr(c, f.name) for c in claims],
                                                     dtype=str)) for f in fields(Claim)}},
        coords={"model": [r["model"] for r in models], "claim_index": np.arange(len(claims))})
    ds.attrs.update(netcdf_attrs(provenance(config={"chapter": chapter, "profile": profile})))
    ds.attrs["chapter"] = chapter
    path = _folder(profile, results_dir) / f"{chapter}.nc"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")


@dataclass
class Ledger:
    models: pd.DataFrame  # one row per (chapter, model)
    claims: pd.DataFrame  # one row per claim, with its chapter
    chapters: list[str]  # the chapters that recorded, in order


def read(profile: str, results_dir=None) -> Ledger:
    """Every chapter's record under ``profile`` (none: empty tables)."""
    models, claims, chapters = [], [], []
    for path in sorted(_folder(profile, results_dir).glob("*.nc")):
        try:
            with xr.open_dataset(path, engine="h5netcdf") as ds:
                ds = ds.load()
        except (OSError, ValueError) as err:
            raise ValueError(f"ledger file {path.name} cannot be read ({err}); delete it and "
                             "run its chapter again") from None
        chapter = ds.attrs.get("chapter", path.stem)
        chapters.append(chapter)
        if ds.sizes.get("model"):
            m = ds[[f for f in MODEL_FIELDS if f != "model"]].to_dataframe().reset_index()
            models.append(m.assign(chapter=chapter))
        if ds.sizes.get("claim_index"):
            c = ds[[_stored(f.name) for f in fields(Claim)]].to_dataframe().reset_index(drop=True)
            c.columns = [f.name for f in fields(Claim)]
            claims.append(c.assign(chapter=chapter))
    cols_m = ["chapter", *MODEL_FIELDS]
    cols_c = ["chapter", *(f.name for f in fields(Claim))]
    numeric = {f: float for f in MODEL_FIELDS if f.startswith(("fraction", "parameters", "train",
                                                                "replicates"))}
    return Ledger(pd.concat(models, ignore_index=True)[cols_m] if models
                  else pd.DataFrame(columns=cols_m).astype(numeric),
                  pd.concat(claims, ignore_index=True)[cols_c] if claims
                  else pd.DataFrame(columns=cols_c), chapters)


def digest(profile: str, results_dir=None) -> str:
    """A hash of every chapter's record under ``profile``: the closing chapter's
    cache key includes it, so it runs again when any chapter has recorded anew."""
    h = hashlib.sha256()
    for path in sorted(_folder(profile, results_dir).glob("*.nc")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _stored(field: str) -> str:
    """A claim's field as a variable of the ledger file (apart from the models')."""
    return "claim_text" if field == "claim" else f"claim_{field}"


def _folder(profile: str, results_dir=None):
    return paths.results_dir(results_dir) / "ledger" / profiles.resolve(profile)

