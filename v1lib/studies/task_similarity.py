"""Chapter 9: how V1-like are the populations of task-trained networks, and how
does that change as task training goes on (Shi et al. 2022)?

The target is the in-silico V1's trial-averaged responses to natural scenes
(:mod:`v1lib.sim.scene_responses`). Every population of every network
(MouseNet's areas and layers, the VGG-style network's convolutions) is shown
the same scenes at the network's input size; its representational
dissimilarity matrix (RDM) is compared with V1's by Spearman correlation
(:mod:`v1lib.rsa`), at every snapshot epoch of every instance. Beside them:
the split-half noise ceiling of the recorded RDM, the similarity of the raw
pixels, and, known only in silico, the similarity of the noise-free rates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import xarray as xr

from .. import profiles, rsa
from ..cache import cached_result
from ..ledger import Claim, change_claim, model_rows, untestable
from ..model_cache import costs
from ..models.normalizer import Normalizer
from ..published import PUBLISHED
from ..sim.scene_responses import scene_responses
from ..sim.static import StaticConfig
from ..stats import Interval, t_interval
from . import task_training as tt

SCENES = {"images": 118, "repeats": 10, "draws": 20, "animal": 0}
BATCH = 64


def scene_settings(profile: str) -> dict:
    s = {**SCENES, **tt.settings(profile)["scenes"]}
    unknown = sorted(set(s) - set(SCENES))
    if unknown:
        raise ValueError(f"profile '{profiles.resolve(profile)}', section '{tt.SECTION}', "
                         f"scenes: unknown option(s) {unknown}; known: {list(SCENES)}")
    return s


def v1_world(profile: str) -> tuple[dict, int]:
    """The simulated V1 the scenes are shown to: the config and seed of the
    profile's static dataset (so its animal 0 is chapter 1's first animal)."""
    from ..datasets import read_manifest

    name = profiles.load(profile)["parameters"]["data"]
    entry = read_manifest().get(name, {})
    if entry.get("generator") != "static":
        raise ValueError(f"profile '{profiles.resolve(profile)}': its dataset '{name}' is not a "
                         "simulated static dataset; the scenes need the in-silico V1")
    return entry.get("config") or {}, entry["seed"]


def v1_scenes(profile: str, results_dir=None) -> xr.Dataset:
    """The in-silico V1's responses to the scenes (cached)."""
    s = scene_settings(profile)
    static_config, seed = v1_world(profile)
    config = {"static": static_config, **{k: s[k] for k in ("images", "repeats", "animal")}}
    return cached_result(results_dir, "scene_responses", config, seed, lambda: scene_responses(
        StaticConfig.from_dict(static_config), seed, s["animal"], s["images"], s["repeats"]),
        code=[scene_responses.__module__])


def v1_reference(scenes: xr.Dataset, draws: int, seed: int = 0) -> xr.Dataset:
    """V1's RDM (trial-averaged), its split-half noise ceiling, and the
    similarity to it of the noise-free rates and of the pixels."""
    target = rsa.rdm(scenes.responses.mean("repeat"), "image", "neuron")
    ceiling = rsa.split_half_ceiling(scenes.responses, "repeat", draws=draws, seed=seed)
    truth = rsa.similarity(rsa.rdm(scenes.gt_rate, "image", "neuron"), target)
    pixels = rsa.similarity(rsa.rdm(scenes.images.stack(unit=("y", "x")), "image", "unit"), target)
    return xr.Dataset({"target": target, "truth": truth, "pixels": pixels,
                       **{f"ceiling_{k}": v for k, v in ceiling.data_vars.items()}})


def network_input(run: tt.TaskRun, images: np.ndarray) -> torch.Tensor:
    """Scenes (grey levels) as a network's input: resized to its input size and
    normalised like the task's stimuli."""
    shape = tuple(next(iter(run.tensors.values())).inputs["stimulus"].shape[-2:])
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))[:, None]
    x = F.interpolate(x, size=shape, mode="bilinear", antialias=True, align_corners=False)
    info = next(iter(run.tensors.values())).info
    return Normalizer(info).normalize("stimulus", x.to(run.tensors_device))


def population_rdms(net, x: torch.Tensor) -> dict[str, xr.DataArray | None]:
    """The RDM of every population of ``net`` for inputs ``x``; None for a
    population whose Pearson distances are undefined (constant across its units
    for some input: a population of few channels silenced by its ReLU)."""
    with torch.no_grad():
        parts = [net.populations(x[i:i + BATCH]) for i in range(0, len(x), BATCH)]
    ids = np.arange(len(x))
    out = {}
    for name in parts[0]:
        units = rsa.flatten_units(torch.cat([p[name] for p in parts]).cpu(), ids)
        out[name] = rsa.rdm(units, "image", "unit") if _defined(units) else None
    return out


def _defined(units: xr.DataArray) -> bool:
    return bool((np.ptp(units.values, axis=1) > 0).all())


def _similarity(rdm: xr.DataArray | None, target: xr.DataArray) -> float:
    """Spearman similarity to ``target``; NaN for an undefined RDM, or one
    whose dissimilarities are all equal (no rank order to compare)."""
    if rdm is None:
        return np.nan
    try:
        return rsa.similarity(rdm, target)
    except ValueError:  # all dissimilarities equal
        return np.nan


def epoch_similarity(run: tt.TaskRun, x: torch.Tensor, target: xr.DataArray) -> xr.Dataset:
    """Each population's similarity to V1 (NaN where its RDM is undefined) and
    the test accuracy, per snapshot."""
    from ..tasks import accuracy

    rows, acc = [], []
    for epoch in run.snapshots:
        net = run.at_epoch(epoch)
        rdms = population_rdms(net, x)
        rows.append([_similarity(r, target) for r in rdms.values()])
        scan, tensors = next(iter(run.tensors.items()))
        acc.append(accuracy(net, tensors, "test", scan=scan))
    return xr.Dataset({"similarity": (("epoch", "population"), np.array(rows)),
                       "accuracy": ("epoch", np.array(acc))},
                      coords={"epoch": list(run.snapshots), "population": list(rdms)})


def similarity_study(task_scans: dict, profile: str, seed: int, results_dir=None,
                     device="cpu") -> dict[str, xr.Dataset]:
    """Per network: similarity (instance, epoch, population) and accuracy
    (instance, epoch), with V1's reference values in each dataset's variables.
    ``seed`` seeds the networks (instance k: :func:`task_training.instance_seed`)
    and the ceiling's split halves."""
    s, sc = tt.settings(profile), scene_settings(profile)
    scenes = v1_scenes(profile, results_dir)
    ref = v1_reference(scenes, sc["draws"], seed)
    out = {}
    for network, instances in tt.runs(task_scans, profile, seed, results_dir, device).items():
        per = []
        for run in instances:
            config = {"run": run.folder.name, "scenes": sc, "world": v1_world(profile)}
            per.append(cached_result(
                results_dir, "task_similarity", config, seed,
                lambda run=run: epoch_similarity(run, network_input(run, scenes.images.values),
                                                 ref.target), code=[__name__]))
        ds = xr.concat(per, "instance").assign_coords(instance=np.arange(len(per)))
        ds = ds.assign(**{k: v for k, v in ref.data_vars.items() if k != "target"})
        out[network] = ds.assign_attrs(network=tt.NETWORKS[network][0],
                                       n_parameters=run.model.n_parameters(),
                                       train_seconds=float(np.mean(
                                           [costs(r)["train_seconds"] for r in instances])),
                                       input_size=s["input_size"])
    return out


def best_population(ds: xr.Dataset) -> str:
    """The population most similar to V1 at the last epoch (mean over instances)."""
    last = ds.similarity.isel(epoch=-1).mean("instance").dropna("population")
    if last.size == 0:
        raise ValueError("no population has a defined similarity at the last epoch")
    return str(last.population.values[int(np.argmax(last.values))])


def plateau_test(ds: xr.Dataset, population: str, from_epoch: int | None = None) -> dict:
    """Whether similarity stops rising while accuracy still rises: for each
    instance, the change of ``population``'s similarity and of the accuracy from
    ``from_epoch`` (default: the middle snapshot, fixed before looking at the
    curves) to the last epoch, with 95 % t-intervals over instances."""
    epochs = [int(e) for e in ds.epoch.values]
    start = epochs[len(epochs) // 2] if from_epoch is None else from_epoch
    if start not in epochs:
        raise ValueError(f"no snapshot at epoch {start}; kept: {epochs}")
    sim = ds.similarity.sel(population=population)
    d_sim = (sim.isel(epoch=-1) - sim.sel(epoch=start)).values
    d_acc = (ds.accuracy.isel(epoch=-1) - ds.accuracy.sel(epoch=start)).values
    return {"from_epoch": start, "last_epoch": epochs[-1],
            "similarity_change": t_interval(d_sim), "accuracy_change": t_interval(d_acc)}


def accuracy_table(results: dict[str, xr.Dataset], chance: float) -> pd.DataFrame:
    """Per network: parameters, test accuracy after the last epoch (mean and
    95 % t-interval over instances), and the same above chance."""
    rows = []
    for ds in results.values():
        acc = t_interval(ds.accuracy.isel(epoch=-1).values)
        rows.append({"network": ds.attrs["network"], "parameters": ds.attrs["n_parameters"],
                     "instances": ds.sizes["instance"], "epochs": int(ds.epoch.values[-1]),
                     "test accuracy": acc.span(), "chance": round(chance, 3)})
    return pd.DataFrame(rows).set_index("network")


def accuracy_ratio(results: dict[str, xr.Dataset], chance: float = 0.0):
    """MouseNet's final test accuracy over the VGG-style network's, one ratio
    per pair of independent instances (instance k of each), as a t-interval;
    with ``chance``, of the accuracies above chance."""
    a = results["mousenet"].accuracy.isel(epoch=-1).values - chance
    b = results["vgg"].accuracy.isel(epoch=-1).values - chance
    n = min(len(a), len(b))
    return t_interval(a[:n] / b[:n])


def learned_text(results: dict[str, xr.Dataset], chance: float) -> str:
    """Whether each network's final test accuracy is resolved above chance (95 %
    t-interval over instances); a network that has not learned its task makes
    every comparison that rests on its training uninformative."""
    parts, failed = [], []
    for ds in results.values():
        iv = t_interval(ds.accuracy.isel(epoch=-1).values - chance)
        ok = iv.known and iv.lo > 0
        failed += [] if ok else [ds.attrs["network"]]
        parts.append(f"{ds.attrs['network']} {iv.span(signed=True)} above chance")
    text = "Final test accuracy, " + "; ".join(parts) + "."
    if failed:
        text += (f" **{' and '.join(failed)} {'is' if len(failed) == 1 else 'are'} not resolved "
                 "above chance**: at this profile's training budget the network has not "
                 "demonstrably learned the task, so the comparisons below that rest on its "
                 "training (accuracy ratio, similarity after training, task-trained core) say "
                 "little about task-driven networks.")
    return text


def ledger_entries(results: dict[str, xr.Dataset], data, chance: float
                    ) -> tuple[list[dict], list[Claim]]:
    """Chapter 9: each task-trained network, scored by its most V1-like
    population's similarity to V1 as a fraction of the noise-free model's (true)
    and of the split-half noise ceiling (observable); MouseNet's accuracy
    relative to the VGG-style network's."""
    scores = xr.concat([_ledger_scores(ds) for ds in results.values()], "network")
    models = model_rows(scores, "shi", data,
                        {ds.attrs["network"]: f"{ds.attrs['network']} (task-trained)"
                         for ds in results.values()},
                        dim="network", unit="instance", true="true", observable="observable",
                        score="RSA similarity to V1 (best population)")
    ratio = PUBLISHED["shi_top1_mousenet"].value / PUBLISHED["shi_top1_vgg16"].value
    claim = "MouseNet reaches a fraction of the VGG network's object-recognition accuracy"
    shown = f"{ratio - 1:+.2f} (ratio {ratio:.2f})"
    below = [ds.attrs["network"] for ds in results.values() if not _above_chance(ds, chance)]
    if below:
        return models, [untestable("shi", claim, shown,
                                   f"{' and '.join(below)} not resolved above chance: not "
                                   "trained enough here for an accuracy ratio to mean anything")]
    iv = accuracy_ratio(results, chance)
    shifted = Interval(iv.mean - 1, iv.lo - 1, iv.hi - 1, iv.n)
    return models, [change_claim("shi", claim + " (accuracy above chance, ratio minus 1)",
                                 shifted, ratio - 1, replicates="instance pairs",
                                 published=shown)]


def _ledger_scores(ds: xr.Dataset) -> xr.Dataset:
    """Per instance, the most V1-like population's final similarity as a fraction
    of the noise-free rates' (true) and of the split-half ceiling (observable)."""
    sim = ds.similarity.isel(epoch=-1).sel(population=best_population(ds), drop=True)
    return xr.Dataset({"true": sim / float(ds.truth),
                       "observable": sim / float(ds.ceiling_spearman_brown),
                       "parameters": float(ds.attrs["n_parameters"]),
                       "train_seconds": float(ds.attrs.get("train_seconds", np.nan))}
                      ).expand_dims(network=[ds.attrs["network"]])


def _above_chance(ds: xr.Dataset, chance: float) -> bool:
    iv = t_interval(ds.accuracy.isel(epoch=-1).values - chance)
    return iv.known and iv.lo > 0
