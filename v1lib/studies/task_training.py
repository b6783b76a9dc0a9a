"""Task-driven networks (Shi et al. 2022): MouseNet and a VGG-style network
trained on object recognition through the book's one ``fit`` with a
cross-entropy objective, their weights kept at chosen epochs (*snapshots*).

A run's folder ``results/models/<hash>`` holds ``epoch_<e>.pt`` for every
snapshot epoch ``e`` (``epoch_000.pt``: the untrained network), the final model
``model.pt`` (the weights of the best validation accuracy, as early stopping
picks them), ``history.nc`` and the config and provenance; ``checkpoint.pt``
while training, so an interrupted run resumes. The settings come from the
profile's ``task_models`` section.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
import xarray as xr

from .. import parallel, paths, profiles, torchfile
from ..cache import atomic_path, config_hash, netcdf_attrs, provenance, write_json_atomic
from ..locking import locked
from ..model_cache import TRAINING_VERSION, build_model, check_folder, run_config
from ..models.mousenet import MouseNetConfig
from ..models.vgg import VGGConfig
from ..objectives import CrossEntropy
from ..tasks import at_size, task_tensors
from ..tensors import ScanTensors, data_fingerprint
from ..train import TrainConfig, fit

SECTION = "task_models"
NETWORKS = {"mousenet": ("MouseNet", MouseNetConfig), "vgg": ("VGG-style", VGGConfig)}
OBJECTIVE = CrossEntropy()


def task_data(profile: str) -> str:
    """The task the profile's task-driven networks train on."""
    return profiles.load(profile)["parameters"].get("task_data", "insilico-objects")


def settings(profile: str) -> dict:
    """The profile's task-training settings: each network's options, the input
    size (px per side) at which the networks see the task, training, snapshot
    epochs and independent instances per network."""
    s = profiles.settings(profile, SECTION)
    where = f"profile '{profiles.resolve(profile)}', section '{SECTION}'"
    out = {"networks": s.get("networks", {}), "input_size": s.get("input_size", 64),
           "train": s.get("train", {}),
           "snapshots": sorted(set(s.get("snapshots", [0]))), "instances": s.get("instances", 1),
           "scenes": s.get("scenes", {})}
    bad = [n for n in out["networks"] if n not in NETWORKS]
    if bad:
        raise ValueError(f"{where}: unknown network(s) {bad}; choose from {list(NETWORKS)}")
    if not isinstance(out["instances"], int) or out["instances"] < 1:
        raise ValueError(f"{where}: 'instances' must be a positive integer, got "
                         f"{out['instances']!r}")
    if not isinstance(out["input_size"], int) or out["input_size"] < 16:
        raise ValueError(f"{where}: 'input_size' must be an integer >= 16 (px), got "
                         f"{out['input_size']!r}")
    if any(not isinstance(e, int) or e < 0 for e in out["snapshots"]):
        raise ValueError(f"{where}: 'snapshots' must be epochs >= 0, got {out['snapshots']}")
    return out


def configs(profile: str, network: str):
    """The model and training configuration of ``network`` under ``profile``:
    the section's ``train`` options, updated by the network's own ``train``
    (its options beside the model's); training runs to the last snapshot epoch."""
    if network not in NETWORKS:
        raise ValueError(f"unknown task network '{network}'; choose from {list(NETWORKS)}")
    s = settings(profile)
    where = f"profile '{profiles.resolve(profile)}', section '{SECTION}'"
    options = dict(s["networks"].get(network) or {})
    own_train = options.pop("train", None) or {}
    if not isinstance(own_train, dict):
        raise ValueError(f"{where}, {network}: 'train' must be a mapping of training options "
                         f"(e.g. {{lr: 0.003}}), got {own_train!r}")
    if network == "mousenet":
        options["input_size"] = s["input_size"]
    model = NETWORKS[network][1].from_dict(options, f"{where}, {network}")
    train = TrainConfig.from_dict({**s["train"], **own_train,
                                   "max_epochs": max(s["snapshots"][-1], 1)},
                                  f"{where}, {network}")
    return model, train


@dataclass
class TaskRun:
    model: torch.nn.Module  # the final (best validation) weights
    history: xr.Dataset
    folder: Path
    tensors: dict[str, ScanTensors]
    snapshots: tuple[int, ...]

    def at_epoch(self, epoch: int) -> torch.nn.Module:
        """The network with its weights after ``epoch`` epochs (a copy)."""
        if epoch not in self.snapshots:
            raise ValueError(f"no snapshot at epoch {epoch}; kept: {list(self.snapshots)}")
        net = copy.deepcopy(self.model)
        net.load_state_dict(torchfile.load(_snapshot(self.folder, epoch), "network snapshot",
                                           map_location=self.tensors_device))
        return net.eval()

    @property
    def tensors_device(self):
        return next(iter(self.tensors.values())).device


def _snapshot(folder: Path, epoch: int) -> Path:
    return Path(folder) / f"epoch_{epoch:03d}.pt"


def _prepared(scans, model_config, train_config: TrainConfig, seed: int, snapshots,
              input_size: int, results_dir, device):
    """The scans at ``input_size``, the snapshot epochs and the run's cache folder."""
    snaps = tuple(sorted(set(snapshots) | {0}))
    scans = {name: at_size(ds, input_size) for name, ds in scans.items()}
    key = {"version": TRAINING_VERSION, "data": data_fingerprint(scans), "input_size": input_size,
           "model": model_config.to_dict(), "model_class": type(model_config).__name__,
           "train": dataclasses.asdict(train_config), "objective": dataclasses.asdict(OBJECTIVE),
           "seed": seed, "snapshots": list(snaps), "device": torch.device(device).type}
    return scans, snaps, paths.results_dir(results_dir) / "models" / config_hash(key)


def is_trained(scans, model_config, train_config: TrainConfig, seed: int, snapshots,
               input_size: int = 64, results_dir=None, device="cpu") -> bool:
    """Whether :func:`train_task` with these arguments would only reload."""
    folder = _prepared(scans, model_config, train_config, seed, snapshots, input_size,
                       results_dir, device)[2]
    return (folder / "model.pt").is_file()


def train_task(scans: dict[str, xr.Dataset], model_config, train_config: TrainConfig, seed: int,
               snapshots, input_size: int = 64, results_dir=None, device="cpu",
               show_progress: bool = False) -> TaskRun:
    """Train (or resume, or reload) a classifier on task data ``scans`` shown at
    ``input_size`` px, keeping its weights after each epoch of ``snapshots``;
    cached under ``results/models/<hash>``."""
    scans, snaps, folder = _prepared(scans, model_config, train_config, seed, snapshots,
                                     input_size, results_dir, device)
    tensors = {name: task_tensors(ds, device) for name, ds in scans.items()}
    model = build_model(tensors, model_config, seed).to(device)
    if not (folder / "model.pt").is_file():
        with locked(folder, folder=True):
            if not (folder / "model.pt").is_file():
                _train(model, tensors, scans, model_config, train_config, seed, snaps, folder,
                       device, show_progress)
    model.load_state_dict(torchfile.load(folder / "model.pt", "model", map_location=device))
    with xr.open_dataset(folder / "history.nc", engine="h5netcdf") as h:
        history = h.load()
    return TaskRun(model.eval(), history, folder, tensors, snaps)


def _train(model, tensors, scans, model_config, train_config, seed, snaps, folder: Path, device,
           show_progress) -> None:
    config = run_config(scans, model_config, train_config, seed, OBJECTIVE,
                        {"snapshots": list(snaps)})
    check_folder(folder, config)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / "config.json", config)
    checkpoint = folder / "checkpoint.pt"
    if not _snapshot(folder, 0).is_file():
        torchfile.save(model.state_dict(), _snapshot(folder, 0))
    history = None
    for epoch in (e for e in snaps if e > 0):
        stage = dataclasses.replace(train_config, max_epochs=epoch)
        history = fit(model, tensors, stage, seed, checkpoint, show_progress, OBJECTIVE)
        if not _snapshot(folder, epoch).is_file():
            # the checkpoint holds the weights after the last epoch (fit's return: the best)
            state = torchfile.load(checkpoint, "training checkpoint", map_location=device,
                                   weights_only=False, keys=("model",))
            torchfile.save(state["model"], _snapshot(folder, epoch))
    if history is None:  # no training asked for: the untrained network is the model
        history = fit(model, tensors, dataclasses.replace(train_config, max_epochs=0), seed,
                      None, False, OBJECTIVE)
    prov = provenance(config=config, seed=seed, device=str(device))
    history.attrs.update(netcdf_attrs(prov))
    write_json_atomic(folder / "provenance.json", prov)
    with atomic_path(folder / "history.nc") as tmp:
        history.to_netcdf(tmp, engine="h5netcdf")
    torchfile.save(model.state_dict(), folder / "model.pt")
    checkpoint.unlink(missing_ok=True)


def runs(task_scans: dict, profile: str, seed: int, results_dir=None,
         device="cpu") -> dict[str, list[TaskRun]]:
    """Every instance of every task network of the profile (instance k from
    :func:`instance_seed`). Those not trained yet train side by side
    (:func:`v1lib.parallel.run_jobs`); then all are reloaded here."""
    s = settings(profile)
    task_scans = {name: at_size(ds, s["input_size"]) for name, ds in task_scans.items()}  # once

    def arguments(network, k):
        model_cfg, train_cfg = configs(profile, network)
        return (task_scans, model_cfg, train_cfg, instance_seed(seed, k), s["snapshots"],
                s["input_size"], results_dir, device)

    jobs = [(n, k) for n in s["networks"] for k in range(s["instances"])]
    todo = [job for job in jobs if not is_trained(*arguments(*job))]
    if todo:  # the results are folders: train in the workers, reload below
        parallel.run_jobs(lambda n, k: train_task(*arguments(n, k)).folder, todo, device,
                          desc="task networks", unit="network")
    return {n: [train_task(*arguments(n, k)) for k in range(s["instances"])]
            for n in s["networks"]}


def instance_seed(seed: int, instance: int) -> int:
    """Instance ``instance`` (0, 1, ...) of a network is initialised from this seed."""
    return seed + 1000 * instance
