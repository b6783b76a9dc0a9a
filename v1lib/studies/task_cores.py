"""Chapter 10: task-driven against data-driven cores (Lurz et al. 2021; Shi et
al. 2022). The task networks of chapter 9 (MouseNet and the VGG-style network,
trained on the object task) are frozen and given a Gaussian readout on each
held-out animal of chapter 3, at some or all of chapter 3's fractions of its
training data (:func:`curve_fractions`); beside them, chapter 3's data-driven
transferred core and direct training.

Which populations a task core offers the readout is chosen once per network on
the validation tier of the first held-out animal, with all of its training
data: every VISp layer of MouseNet and all three together, and the last
convolution of each of the VGG-style network's blocks whose grid keeps at least
a quarter of the input's resolution. The test tier decides nothing before the
curves are scored. Held-out animal ``k`` reads instance ``k mod instances`` of
each task network, so the intervals over animals include the variation between
independently trained task networks where the profile trains as many instances
as it holds out animals.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch
import xarray as xr

from .. import profiles
from ..cache import cached_result
from ..ledger import Claim, change_claim, model_rows, untestable
from ..model_cache import costs, fit_cached
from ..models.mousenet import MouseNet
from ..models.normalizer import input_stats
from ..models.task_core import TaskCore, TaskCoreConfig
from ..published import PUBLISHED
from ..stats import Interval, paired_change, t_interval, verdict
from ..tensors import data_fingerprint
from . import task_training as tt
from .readouts import cell
from .static import fraction_config, replicates, study_settings, variant_config
from .sweep import sweep, tier_scores

VS_VGG = PUBLISHED["transfer_vs_vgg16"]
LABELS = {"direct": "direct training", "transfer": "data-driven core (transferred)",
          "mousenet": "MouseNet core (task-trained)", "vgg": "VGG-style core (task-trained)"}


def candidates(net: torch.nn.Module) -> list[tuple[str, ...]]:
    """The population sets a task core may offer the readout (module docstring)."""
    if isinstance(net, MouseNet):
        visp = [p.name for p in net.arch.populations if p.area == "VISp"]
        return [(n,) for n in visp] + [tuple(visp)]
    ends = [net.names[i] for i in sorted(net.last_in_block)]
    return [(n,) for b, n in enumerate(ends) if b <= 2]  # block b's grid: input / 2**b


def core_config(run: tt.TaskRun, network: str, populations, ds: xr.Dataset) -> TaskCoreConfig:
    """The frozen core of ``run``'s network for stimuli like those of scan ``ds``."""
    net = run.model
    task = next(iter(run.tensors.values())).info.inputs["stimulus"]
    scan = input_stats(ds.images.values[ds.tier.values == "train"], per_column=False, center=True)
    classes = net.config.classes if isinstance(net, MouseNet) else net.head[-1].out_features
    return TaskCoreConfig(
        network=network, network_options=net.config.to_dict(), classes=int(classes),
        input_size=int(next(iter(run.tensors.values())).inputs["stimulus"].shape[-1]),
        populations=tuple(populations), height=ds.sizes["y"], width=ds.sizes["x"],
        stimulus_mean=float(scan.mean), stimulus_std=float(scan.std),
        task_mean=float(task.mean), task_std=float(task.std))


def frozen_core(run: tt.TaskRun, cfg: TaskCoreConfig, ds: xr.Dataset, results_dir=None
                ) -> TaskCore:
    """The task network of ``run`` as a core, its channels standardised on the
    training stimuli of scan ``ds`` (cached)."""
    core = TaskCore(cfg)
    core.network.load_state_dict(run.model.state_dict())
    core = core.to(run.tensors_device)

    def calibrate():
        x = (ds.images.values[ds.tier.values == "train"] - cfg.stimulus_mean) / cfg.stimulus_std
        core.calibrate_(torch.as_tensor(x[:, None], dtype=torch.float32,
                                        device=run.tensors_device))
        return xr.Dataset({"mean": ("channel", core.feature_mean.cpu().numpy()),
                           "std": ("channel", core.feature_std.cpu().numpy())})

    key = {"run": run.folder.name, "core": dataclasses.asdict(cfg),
           "data": data_fingerprint({"scan": ds})}
    stats = cached_result(results_dir, "task_core_calibration", key, 0, calibrate,
                          code=[__name__, TaskCore.__module__])
    core.feature_mean.copy_(torch.as_tensor(stats["mean"].values))
    core.feature_std.copy_(torch.as_tensor(stats["std"].values))
    return core


def readout_fit(scans, profile: str, run: tt.TaskRun, network: str, populations, animal: str,
                seed: int, fraction: float, results_dir=None, device="cpu",
                model: dict | None = None):
    """A Gaussian readout (the profile's, with model options ``model``) on the
    frozen task core, trained on ``fraction`` of ``animal``'s training images."""
    ds = scans[animal]
    base, train = variant_config(profile, "gaussian", model)
    cfg = core_config(run, network, populations, ds)
    model_cfg = dataclasses.replace(base, core_type="task", core=cfg)
    n_train = int((ds.tier == "train").sum())
    train = fraction_config(train, fraction, n_train, seed, freeze_core=True)
    source = SimpleNamespace(folder=run.folder,
                             model=SimpleNamespace(core=frozen_core(run, cfg, ds, results_dir)))
    return fit_cached({animal: ds}, model_cfg, train, seed, results_dir, device,
                      core_from=source, show_progress=False)


def choose_populations(scans, runs: dict, profile: str, results_dir=None, device="cpu",
                       model: dict | None = None) -> xr.Dataset:
    """Each candidate population set's validation single-trial correlation on
    the first held-out animal (all its training data, instance 0 of each network)."""
    animal, seed = replicates(scans, study_settings(profile))[0]
    jobs = [(n, "+".join(c)) for n, rs in runs.items() for c in candidates(rs[0].model)]

    def run(network, populations):
        fit = readout_fit(scans, profile, runs[network][0], network, populations.split("+"),
                          animal, seed, 1.0, results_dir, device, model)
        return {"validation_corr": tier_scores(fit, {animal: scans[animal]},
                                               "validation")["single_trial_corr"]}

    ds = sweep(jobs, run, ("network", "populations"), desc="task-core layers", device=device)
    return ds.assign_attrs(animal=animal)


def chosen(selection: xr.Dataset) -> dict[str, list[str]]:
    """Per network, the population set with the best validation correlation."""
    out = {}
    for n in selection.network.values:
        v = selection.validation_corr.sel(network=n).dropna("populations")
        out[str(n)] = str(v.populations.values[int(np.argmax(v.values))]).split("+")
    return out


def curve_fractions(profile: str) -> list[float]:
    """The fractions of training data at which the task cores get readouts: the
    ``task_models`` section's ``core_fractions`` (some of chapter 3's), or all of
    chapter 3's."""
    ch3 = sorted(study_settings(profile)["fractions"])
    chosen = profiles.settings(profile, tt.SECTION).get("core_fractions") or ch3
    where = f"profile '{profiles.resolve(profile)}', section '{tt.SECTION}': 'core_fractions'"
    if not isinstance(chosen, list):
        raise ValueError(f"{where} must be a list of chapter 3's fractions {ch3}, got {chosen!r}")
    extra = [f for f in chosen if f not in ch3]
    if extra:
        raise ValueError(f"{where} {extra} are not among chapter 3's fractions {ch3}")
    if ch3[-1] not in chosen:  # the claims are made at all data
        raise ValueError(f"{where} must include all data ({ch3[-1]}), got {chosen}")
    return sorted(chosen)


def task_core_curve(scans, runs: dict, populations: dict[str, list[str]], profile: str,
                    fractions=None, results_dir=None, device="cpu",
                    model: dict | None = None) -> xr.Dataset:
    """Test scores of each frozen task core with a new readout, per network
    (``condition``), fraction of training data and held-out animal."""
    st = study_settings(profile)
    fractions = sorted(fractions or curve_fractions(profile))
    reps = replicates(scans, st)
    seeds = dict(reps)
    instance = {a: k % len(next(iter(runs.values()))) for k, (a, _) in enumerate(reps)}

    def run(network, fraction, animal):
        fit = readout_fit(scans, profile, runs[network][instance[animal]], network,
                          populations[network], animal, seeds[animal], fraction, results_dir,
                          device, model)
        h = fit.history
        return {**tier_scores(fit, {animal: scans[animal]}), **costs(fit),
                "n_train_images": len(fit.tensors[animal].tiers["train"]),
                "epochs": int(h.attrs["epochs"]),
                "converged": float(h.attrs["stopped"] == "early stopping")}

    jobs = [(n, f, a) for n in runs for f in fractions for a, _ in reps]
    ds = sweep(jobs, run, ("condition", "fraction", "animal"), desc="task cores", device=device)
    return ds.sortby("fraction").assign_coords(
        instance=("animal", [instance[a] for a in ds.animal.values]))


def comparison_table(curve: xr.Dataset, metrics: dict[str, str]) -> pd.DataFrame:
    """Per condition, at every fraction: mean [95 % CI] over held-out animals."""
    rows = []
    for f in curve.fraction.values:
        for c in curve.condition.values:
            sel = curve.sel(condition=c, fraction=f)
            rows.append({"training images": int(sel.n_train_images.mean()),
                         "core": LABELS.get(str(c), str(c)),
                         **{name: cell(sel[k].values) for k, name in metrics.items()}})
    return pd.DataFrame(rows).set_index(["training images", "core"])


def gain(curve: xr.Dataset, condition: str, reference: str, fraction=None,
         metric: str = "fraction_oracle") -> tuple[Interval, bool]:
    """Per-animal change of ``condition`` over ``reference`` at ``fraction``
    (default: all data) as a t-interval, and whether it is relative (%): where
    ``reference`` scores at or below zero for some animal, the absolute difference."""
    f = float(curve.fraction.max()) if fraction is None else fraction
    new, ref = (curve[metric].sel(condition=c, fraction=f).values for c in (condition, reference))
    if (ref > 0).all():
        return paired_change(new, ref)[1], True
    return t_interval(new - ref), False


def _the(condition: str) -> str:
    return LABELS[condition] if condition == "direct" else f"the {LABELS[condition]}"


def claims_text(curve: xr.Dataset, metric: str = "fraction_oracle") -> str:
    """The data-driven core against the task-driven ones at all data, and the
    task cores against each other and against direct training, in words."""
    n = int(curve.n_train_images.sel(condition="direct", fraction=curve.fraction.max()).mean())
    parts = []
    for c, ref, reported in (("transfer", "vgg", VS_VGG), ("transfer", "mousenet", None),
                             ("mousenet", "vgg", None), ("vgg", "direct", None),
                             ("mousenet", "direct", None)):
        iv, relative = gain(curve, c, ref, metric=metric)
        if relative:
            against = (verdict(iv, reported.value, f"Lurz et al.'s {reported.signed} over "
                               "VGG16") if reported else verdict(iv))
            parts.append(f"* the {LABELS[c]} against {_the(ref)}: {iv.text()}, which {against}")
        else:
            parts.append(f"* the {LABELS[c]} against {_the(ref)}: "
                         f"{iv.text(unit='', digits=3)} in absolute terms (the reference scores "
                         f"at or below zero for some animal, so no relative change), which "
                         f"{verdict(iv)}")
    return (f"With all {n} training images of the held-out animal, change of the "
            f"{metric.replace('_', ' ')} (per held-out animal; mean and 95 % t-interval):\n\n"
            + "\n".join(parts))


def best_fraction_text(curve: xr.Dataset, condition: str, metric: str = "fraction_oracle") -> str:
    """How close a task core comes to the data-driven one at the smallest fraction."""
    f = float(curve.fraction.min())
    iv = t_interval(curve[metric].sel(condition=condition, fraction=f).values
                    - curve[metric].sel(condition="transfer", fraction=f).values)
    return (f"With {100 * f:.0f} % of the data, the {LABELS[condition]} differs from the "
            f"data-driven core by {iv.text(unit='', digits=3)} in {metric.replace('_', ' ')}; "
            f"this {verdict(iv)}.")


def layer_text(populations: dict[str, list[str]], most_similar: dict[str, str]) -> str:
    """The readout's chosen layers beside chapter 9's most V1-like populations."""
    parts = []
    for n, pops in populations.items():
        same = most_similar.get(n) in pops
        parts.append(f"{LABELS[n]}: the readout chose {' + '.join(pops)}; the most V1-like "
                     f"population by representational similarity (chapter 9) is "
                     f"{most_similar.get(n, 'not known')}" + (" (the same)" if same else ""))
    return "; ".join(parts) + "."


def core_sizes(runs: dict, populations: dict[str, list[str]], data_core, ds: xr.Dataset
               ) -> pd.DataFrame:
    """What each core offers a readout on stimuli like scan ``ds``'s: channels,
    the feature grid and the parameters it learned (on its task or its neurons);
    ``data_core``: a transferred data-driven model (a ``FitResult``)."""
    h, w = ds.sizes["y"], ds.sizes["x"]
    rows = [{"core": LABELS["transfer"], "channels": data_core.model.core.out_channels,
             "grid (rows x columns)": "{} x {}".format(*data_core.model.core.output_shape(h, w)),
             "parameters learned": data_core.model.n_parameters("core")}]
    for network, pops in populations.items():
        run = runs[network][0]
        core = TaskCore(core_config(run, network, pops, ds))
        rows.append({"core": LABELS[network], "channels": core.out_channels,
                     "grid (rows x columns)": "{} x {}".format(*core.output_shape(h, w)),
                     "parameters learned": run.model.n_parameters()})
    return pd.DataFrame(rows).set_index("core")


def ranking_text(curve: xr.Dataset, metric: str = "fraction_oracle") -> str:
    """The cores in order of their mean score (over held-out animals), at the
    smallest and the largest fraction of the data."""
    parts = []
    for f in (float(curve.fraction.min()), float(curve.fraction.max())):
        m = curve[metric].sel(fraction=f).mean("animal")
        order = [str(c) for c in m.condition.values[np.argsort(-m.values)]]
        n = int(curve.n_train_images.sel(fraction=f).mean())
        parts.append(f"with {n} training images: " + " > ".join(
            f"{LABELS[c]} ({float(m.sel(condition=c)):.3f})" for c in order))
    return (f"Mean {metric.replace('_', ' ')} over held-out animals, in order: "
            + "; ".join(parts) + ".")


def ledger_entries(curve: xr.Dataset, data) -> tuple[list[dict], list[Claim]]:
    """Chapter 10: each frozen task core with new readouts, at all data; the
    transferred data-driven core against the VGG-style core."""
    at_full = curve.sel(fraction=float(curve.fraction.max()))
    models = model_rows(at_full, "lurz", data,
                        {c: f"{LABELS[c]} + Gaussian readout (readout trained)"
                         for c in ("mousenet", "vgg")}, dim="condition")
    claim = "A data-driven core predicts V1 better than a task-trained VGG core"
    iv, relative = gain(curve, "transfer", "vgg")
    if not relative:
        return models, [untestable("lurz", claim, VS_VGG.signed,
                                   "The VGG-style core scores at or below zero for some animal: "
                                   "no relative change.", f"{iv.span(signed=True)} (absolute)")]
    return models, [change_claim("lurz", claim, iv, VS_VGG.value, " %")]
