"""Command line: ``python -m v1lib <command>``.

  simulate static|video|freely-moving|objects --seed N [--config FILE] --out FILE.nc [--device D]
  book [--profile P] [--only CHAPTER ...] [--force] [--no-html] [--executor E]
  data NAME                       (make or fetch a dataset of the manifest)
  fit --data NAME_OR_FILE --model gaussian|factorized|point|recurrent|ln [--shifter] [--modulator]
      [--no-grid] --profile P --seed N --out DIR [--restart] [--device D] [--tier T]
  fit --data NAME_OR_FILE --model multimodal [--session S] [--features F] [--frames K]
      [--shifter] ...                 (freely moving mice: one session per model)

Every input is checked before any work starts. Errors print one line naming the
option, file or variable: exit code 1 for bad input, 2 for a bad command line,
130 when interrupted (Ctrl-C; an interrupted fit resumes when run again).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

from . import checks, cluster
from .checks import InputError
from .config import load_yaml

# the multimodal model's behaviour feature sets (v1lib.models.multimodal.FEATURE_SETS)
FEATURE_SETS = ("orig", "velo", "all", "orig_prod", "velo_prod", "all_prod", "S")
SEED_HELP = "a whole number from 0 to 2**32 - 1"


def _read_config(path) -> dict:
    """The options of a ``--config`` YAML file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--config {path}: no such file")
    try:
        config = load_yaml(path.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise InputError(f"--config {path}: not valid YAML ({err})") from None
    if not isinstance(config, dict):
        raise InputError(f"--config {path}: expected a mapping of options")
    return config


def _simulate(args) -> int:
    from .cache import netcdf_attrs, provenance
    from .data.netcdf import save_scans
    from .profiles import device
    from .sim import freely_moving, objects, static, video

    out = checks.output_file(args.out)
    dev = device(args.device, source="--device")
    on = {} if args.kind == "objects" else {"device": dev}  # the object task is drawn, not filtered
    config = _read_config(args.config) if args.config else {}
    config_class, simulate = {
        "static": (static.StaticConfig, static.simulate_static),
        "video": (video.VideoConfig, video.simulate_video),
        "freely-moving": (freely_moving.FreelyMovingConfig, freely_moving.simulate_freely_moving),
        "objects": (objects.ObjectsConfig, objects.simulate_objects),
    }[args.kind]
    cfg = config_class.from_dict(config, source=str(args.config or "defaults"))
    scans = simulate(cfg, args.seed, show_progress=not args.quiet, **on)
    prov = provenance(config=cfg, seed=args.seed, device=on.get("device", "cpu"))
    save_scans(scans, out, attrs={"dataset": out.stem, **netcdf_attrs(prov)})
    if args.kind == "objects":
        ds = scans["objects"]
        print(f"wrote {out} ({ds.sizes['image']} images, {ds.sizes['class']} classes)")
        return 0
    n = sum(ds.sizes["neuron"] for ds in scans.values())
    print(f"wrote {out} ({len(scans)} scans, {n} neurons)")
    return 0


def _book(args) -> int:
    from . import book

    if args.results_dir:
        checks.output_folder(args.results_dir, "--results-dir")
    if args.executor:  # the chapters' kernels inherit it
        cluster.executor(args.executor, source="--executor")
        os.environ[cluster.ENV] = args.executor
    book.run(profile=args.profile, only=args.only, force=args.force,
             results_dir=args.results_dir)
    if not args.no_html:
        try:
            book.build_html()
        except RuntimeError as err:  # the tool's own report, several lines
            print(f"error: {err}", file=sys.stderr)
            return 1
    return 0


def _data(args) -> int:
    from .datasets import load

    if args.results_dir:
        checks.output_folder(args.results_dir, "--results-dir")
    from .data import schemas

    scans = load(args.name, results_dir=args.results_dir)
    for name, ds in scans.items():
        schema = schemas.of(ds, name)
        dim = schema.sample_dim
        units = (f"{ds.sizes['neuron']} neurons" if schema.has_neurons
                 else f"{ds.sizes['class']} classes")
        print(f"{name}: {ds.sizes[dim]} {dim}s x {units}")
    return 0


STATIC_MODELS = ("gaussian", "factorized", "point")  # --model: the readout of a still-image model
VIDEO_MODELS = ("recurrent", "ln")  # --model: the core of a video model
SESSION_MODELS = ("multimodal",)  # --model: a model of a freely moving session (Xu et al. 2023)


def _kind(scans, args) -> str:
    """'session', 'video' or 'still' by the data's schema."""
    from .data import schemas

    sch = [schemas.of(ds, f"--data {args.data}") for ds in scans.values()]
    if not all(s.has_neurons for s in sch):
        raise InputError(f"--data {args.data}: holds a task (labelled images), not recordings of "
                         "neurons; fit trains models of neural responses")
    if any(s.block_key is not None for s in sch):
        return "session"
    return "video" if any(s.time_dim is not None for s in sch) else "still"


def _model_configs(args, scans) -> tuple:
    """The model and training configurations and the objective of ``--model``
    for these data (a model of its schema's kind)."""
    from .objectives import Poisson
    from .studies import freely_moving, static, video

    fits = {"session": SESSION_MODELS, "video": VIDEO_MODELS, "still": STATIC_MODELS}
    kind = _kind(scans, args)
    if args.model not in fits[kind]:
        words = {"session": "freely moving", "video": "video", "still": "still-image"}[kind]
        raise InputError(f"--model {args.model}: --data {args.data} holds {words} recordings; "
                         f"choose --model from {list(fits[kind])}")
    given = [f"--{k}" for k in ("features", "frames", "session") if getattr(args, k)]
    if kind != "session" and given:
        raise InputError(f"{', '.join(given)}: set(s) the multimodal model of a freely moving "
                         "session; these data hold none")
    ignored = [f for f, on in (("--modulator", args.modulator), ("--no-grid", args.no_grid)) if on]
    if kind == "session" and ignored:
        raise InputError(f"{', '.join(ignored)}: not an option of the multimodal model (its "
                         "behaviour stream is always on; choose its inputs with --features)")
    if kind == "session":
        options = {"shifter": args.shifter, "features": args.features or "all_prod",
                   "frames": args.frames or 1}
        model_cfg, train_cfg = freely_moving.model_configs(args.profile, "full", **options)
        return model_cfg, train_cfg, Poisson()
    if args.model in VIDEO_MODELS:
        return video.model_configs(args.profile, args.model, shifter=args.shifter,
                                   modulator=args.modulator)
    model_cfg, train_cfg = static.model_configs(args.profile, readout=args.model,
                                                grid_predictor=not args.no_grid,
                                                shifter="mlp" if args.shifter else None,
                                                modulator="mlp" if args.modulator else None)
    return model_cfg, train_cfg, Poisson()


def _fit_inputs(args) -> dict:
    """Every input of a fit, checked before any training: output folders, device,
    profile, data, and the run ``--out`` holds (unless ``--restart``)."""
    from . import profiles
    from .datasets import load
    from .model_cache import check_folder, run_config
    from .tensors import data_fingerprint

    out = checks.output_folder(args.out)
    if args.results_dir:
        checks.output_folder(args.results_dir, "--results-dir")
    device = profiles.device(args.device, source="--device")
    profiles.load(args.profile)  # an unknown profile is named before the data are loaded
    scans = load(args.data, results_dir=args.results_dir)
    model_cfg, train_cfg, objective = _model_configs(args, scans)
    scans = _session(scans, args)
    checks.fit_data(scans, args.tier, source=f"--data {args.data}")
    extra = {"data": Path(str(args.data)).name, "data_fingerprint": data_fingerprint(scans),
             "profile": profiles.resolve(args.profile)}
    if not args.restart:
        check_folder(out, run_config(scans, model_cfg, train_cfg, args.seed, objective,
                                     extra=extra))
    return {"scans": scans, "model_config": model_cfg, "train_config": train_cfg,
            "out_dir": out, "device": device, "provenance_extra": extra, "objective": objective}


def _session(scans: dict, args) -> dict:
    """The session ``--session`` names, alone, for a multimodal model (which
    fits one session); the scans unchanged otherwise."""
    if args.model not in SESSION_MODELS:
        return scans
    if args.session is None and len(scans) > 1:
        raise InputError(f"--data {args.data} holds {len(scans)} sessions and a multimodal model "
                         f"fits one: choose it with --session from {list(scans)}")
    name = args.session or next(iter(scans))
    if name not in scans:
        raise InputError(f"--session {name}: not in --data {args.data}; choose from "
                         f"{list(scans)}")
    return {name: scans[name]}


def _remove(files) -> None:
    for f in files:
        f.unlink(missing_ok=True)


def _fit(args) -> int:
    import numpy as np

    from .cache import write_json_atomic
    from .evaluation import evaluate, write_predictions
    from .model_cache import discard_run, train_model

    inputs = _fit_inputs(args)
    out, scans = inputs["out_dir"], inputs["scans"]
    results = (out / "metrics.json", out / "predictions.nc")
    if args.restart:
        discard_run(out)
        _remove(results)
    res = train_model(seed=args.seed, show_progress=not args.quiet, **inputs)
    _remove(results)  # the folder holds this run: never leave a previous run's scores
    scores, summary, preds = evaluate(res.model, res.tensors, scans, args.tier,
                                      burn_in=inputs["objective"].burn_in)
    summary = {k: (None if isinstance(v, float) and not np.isfinite(v) else v)  # JSON null
               for k, v in summary.items()}
    h = res.history.attrs
    write_json_atomic(out / "metrics.json", {"tier": args.tier,
                                             "burn_in": inputs["objective"].burn_in, **summary,
                                             "best_val_score": h["best_val_score"],
                                             "val_score_metric": h["score"],
                                             "epochs": int(h["epochs"])})
    write_predictions(preds, scores, out / "predictions.nc")
    keys = ("single_trial_corr", "smoothed_corr", "corr_to_avg", "feve", "fraction_oracle",
            "gt_ceiling_fraction", "gt_observable_ceiling_smoothed_fraction")
    print("  ".join(f"{k}={summary[k]:.3f}" for k in keys if summary.get(k) is not None))
    print(f"wrote {out / 'metrics.json'}, {out / 'predictions.nc'}, {out / 'model.pt'}")
    return 0


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (exit code 2)."""

    def error(self, message):
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def _simulate_parser(sub) -> None:
    sim = sub.add_parser("simulate", help="simulate a dataset of the in-silico V1")
    sim.add_argument("kind", choices=["static", "video", "freely-moving", "objects"])
    sim.add_argument("--seed", type=checks.seed, required=True, help=SEED_HELP)
    sim.add_argument("--config", help="YAML file of simulator options (defaults otherwise)")
    sim.add_argument("--out", required=True, help="output NetCDF file")
    sim.add_argument("--device", default="auto", type=checks.device,
                     help="where the neurons' drives are computed: auto (CUDA where there is "
                          "one, else CPU), cpu, cuda or cuda:N; bit for bit the same data on "
                          "every CPU, the same to float tolerance on a GPU")
    sim.add_argument("--quiet", action="store_true")
    sim.set_defaults(func=_simulate)


def _parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="python -m v1lib", description=__doc__,
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    _simulate_parser(sub)

    bk = sub.add_parser("book", help="execute the chapters and build the HTML book")
    bk.add_argument("--profile", default="auto", help="smoke, cpu, gpu or auto (default)")
    bk.add_argument("--only", nargs="+", help="chapters to run (name or number)")
    bk.add_argument("--force", action="store_true", help="re-execute even if unchanged")
    bk.add_argument("--no-html", action="store_true", help="execute only, do not build HTML")
    bk.add_argument("--results-dir", help="results folder (default: results/)")
    bk.add_argument("--executor", help="where the fits of a sweep run: processes (default: "
                    "forked on this machine), dask or dask:N (a local Dask cluster), a "
                    "scheduler address (tcp://host:8786) or slurm:N (N SLURM jobs)")
    bk.set_defaults(func=_book)

    dt = sub.add_parser("data", help="make or fetch a dataset of data_manifest.yaml")
    dt.add_argument("name")
    dt.add_argument("--results-dir")
    dt.set_defaults(func=_data)

    ft = sub.add_parser("fit", help="train a model on a dataset and score it on the test tier")
    ft.add_argument("--data", required=True, help="dataset name in data_manifest.yaml, a NetCDF "
                    "file, or a Sensorium 2022 folder or zip")
    ft.add_argument("--model", required=True,
                    choices=[*STATIC_MODELS, *VIDEO_MODELS, *SESSION_MODELS],
                    help="still images: the readout of the CNN; video: the recurrent model "
                    "or the LN baseline (Sinz et al. 2018); freely moving: the multimodal "
                    "model (Xu et al. 2023)")
    ft.add_argument("--shifter", action="store_true", help="add a shifter (eye position)")
    ft.add_argument("--session", help="multimodal: the session to fit (data of several)")
    ft.add_argument("--features", choices=list(FEATURE_SETS),
                    help="multimodal: the behaviour feature set (default all_prod)")
    ft.add_argument("--frames", type=checks.positive_int, choices=range(1, 9), metavar="1-8",
                    help="multimodal: bins of history the GRU reads, 1 to 8 (default 1)")
    ft.add_argument("--modulator", action="store_true", help="add a behaviour modulator")
    ft.add_argument("--no-grid", action="store_true",
                    help="Gaussian readout: learn positions freely, without the grid predictor")
    ft.add_argument("--profile", default="auto", help="model and training settings (smoke, cpu, gpu)")
    ft.add_argument("--seed", type=checks.seed, required=True, help=SEED_HELP)
    ft.add_argument("--device", default="auto", type=checks.device,
                    help="auto (CUDA where there is one, else CPU), cpu, cuda, cuda:N or mps")
    ft.add_argument("--tier", default="test", choices=["test", "validation"],
                    help="tier to score (default: test)")
    ft.add_argument("--out", required=True, help="output folder (resumes if interrupted)")
    ft.add_argument("--restart", action="store_true",
                    help="discard the run in --out (model, checkpoint, scores) and train from "
                    "scratch")
    ft.add_argument("--results-dir")
    ft.add_argument("--quiet", action="store_true")
    ft.set_defaults(func=_fit)
    return ap


def main(argv=None) -> int:
    """Run a command; expected errors (bad input: ``ValueError`` and its kin such
    as :class:`~v1lib.data.SchemaError`, ``OSError``, a failed chapter) print one
    line ``error: ...`` and return 1, Ctrl-C returns 130; anything else is a bug
    and keeps its traceback."""
    from .book import ChapterError

    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        from .progress import end_line

        end_line()  # the bars' lines end before ours
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, ChapterError) as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 1
