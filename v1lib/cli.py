"""Command line: ``python -m v1lib <command>``.

  simulate static --seed N [--config FILE] --out FILE.nc
  book [--profile P] [--only CHAPTER ...] [--force] [--no-html]
  data NAME                       (make or fetch a dataset of the manifest)
  fit --data NAME_OR_FILE --model gaussian|factorized|point [--shifter] [--modulator]
      [--no-grid] --profile P --seed N --out DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml


def _simulate(args) -> int:
    from .cache import netcdf_attrs, provenance
    from .data.netcdf import save_scans
    from .sim.static import StaticConfig, simulate_static

    config = {}
    if args.config:
        path = Path(args.config)
        if not path.is_file():
            raise SystemExit(f"error: --config {path}: no such file")
        try:
            config = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise SystemExit(f"error: --config {path}: not valid YAML ({err})") from None
        if not isinstance(config, dict):
            raise SystemExit(f"error: --config {path}: expected a mapping of options")
    try:
        cfg = StaticConfig.from_dict(config, source=str(args.config or "defaults"))
    except (ValueError, TypeError) as err:
        raise SystemExit(f"error: {err}") from None
    scans = simulate_static(cfg, args.seed, show_progress=not args.quiet)
    prov = provenance(config=cfg, seed=args.seed)
    out = save_scans(scans, args.out, attrs={"dataset": Path(args.out).stem, **netcdf_attrs(prov)})
    n = sum(ds.sizes["neuron"] for ds in scans.values())
    print(f"wrote {out} ({len(scans)} scans, {n} neurons)")
    return 0


def _book(args) -> int:
    from . import book

    try:
        book.run(profile=args.profile, only=args.only, force=args.force,
                 results_dir=args.results_dir)
        if not args.no_html:
            book.build_html()
    except (book.ChapterError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def _data(args) -> int:
    from .datasets import load

    scans = load(args.name, results_dir=args.results_dir)
    for name, ds in scans.items():
        print(f"{name}: {ds.sizes['trial']} trials x {ds.sizes['neuron']} neurons")
    return 0


def _fit(args) -> int:
    from . import profiles
    from .datasets import load
    from .evaluation import evaluate, write_predictions
    from .model_cache import train_model
    from .studies.static import model_configs
    from .tensors import data_fingerprint

    try:
        model_cfg, train_cfg = model_configs(args.profile, readout=args.model,
                                             grid_predictor=not args.no_grid,
                                             shifter="mlp" if args.shifter else None,
                                             modulator="mlp" if args.modulator else None)
        scans = load(args.data, results_dir=args.results_dir)
        tier = args.tier
        withheld = [s for s, ds in scans.items()
                    if tier in str(ds.attrs.get("withheld_tiers", "")).split(",")]
        if withheld:
            raise ValueError(f"the '{tier}' responses of {withheld} are withheld (all zero); "
                             "score another tier with --tier validation")
        device = profiles.device(args.device)
        out = Path(args.out)
        for stale in ("metrics.json", "predictions.nc"):  # never leave a previous run's scores
            (out / stale).unlink(missing_ok=True)
        res = train_model(scans, model_cfg, train_cfg, args.seed, out, device,
                          show_progress=not args.quiet,
                          provenance_extra={"data": Path(str(args.data)).name,
                                            "data_fingerprint": data_fingerprint(scans),
                                            "profile": profiles.resolve(args.profile)})
        scores, summary, preds = evaluate(res.model, res.tensors, scans, tier)
    except (ValueError, KeyError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    import numpy as np

    from .cache import write_json_atomic

    summary = {k: (None if isinstance(v, float) and not np.isfinite(v) else v)  # JSON null
               for k, v in summary.items()}
    h = res.history.attrs
    write_json_atomic(out / "metrics.json", {"tier": tier, **summary,
                                             "best_val_score": h["best_val_score"],
                                             "val_score_metric": h["score"],
                                             "epochs": int(h["epochs"])})
    write_predictions(preds, scores, out / "predictions.nc")
    keys = ("single_trial_corr", "corr_to_avg", "feve", "fraction_oracle", "gt_ceiling_fraction")
    print("  ".join(f"{k}={summary[k]:.3f}" for k in keys if summary.get(k) is not None))
    print(f"wrote {out / 'metrics.json'}, {out / 'predictions.nc'}, {out / 'model.pt'}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m v1lib", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="simulate a dataset of the in-silico V1")
    sim.add_argument("kind", choices=["static"])
    sim.add_argument("--seed", type=int, required=True)
    sim.add_argument("--config", help="YAML file of simulator options (defaults otherwise)")
    sim.add_argument("--out", required=True, help="output NetCDF file")
    sim.add_argument("--quiet", action="store_true")
    sim.set_defaults(func=_simulate)

    bk = sub.add_parser("book", help="execute the chapters and build the HTML book")
    bk.add_argument("--profile", default="auto", help="smoke, cpu, gpu or auto (default)")
    bk.add_argument("--only", nargs="+", help="chapters to run (name or number)")
    bk.add_argument("--force", action="store_true", help="re-execute even if unchanged")
    bk.add_argument("--no-html", action="store_true", help="execute only, do not build HTML")
    bk.add_argument("--results-dir", help="results folder (default: results/)")
    bk.set_defaults(func=_book)

    dt = sub.add_parser("data", help="make or fetch a dataset of data_manifest.yaml")
    dt.add_argument("name")
    dt.add_argument("--results-dir")
    dt.set_defaults(func=_data)

    ft = sub.add_parser("fit", help="train a model on a dataset and score it on the test tier")
    ft.add_argument("--data", required=True, help="dataset name in data_manifest.yaml, a NetCDF "
                    "file, or a Sensorium 2022 folder or zip")
    ft.add_argument("--model", required=True, choices=["gaussian", "factorized", "point"],
                    help="the readout")
    ft.add_argument("--shifter", action="store_true", help="add a shifter (eye position)")
    ft.add_argument("--modulator", action="store_true", help="add a behaviour modulator")
    ft.add_argument("--no-grid", action="store_true",
                    help="Gaussian readout: learn positions freely, without the grid predictor")
    ft.add_argument("--profile", default="auto", help="model and training settings (smoke, cpu, gpu)")
    ft.add_argument("--seed", type=int, required=True)
    ft.add_argument("--device", default="auto")
    ft.add_argument("--tier", default="test", choices=["test", "validation"],
                    help="tier to score (default: test)")
    ft.add_argument("--out", required=True, help="output folder (resumes if interrupted)")
    ft.add_argument("--results-dir")
    ft.add_argument("--quiet", action="store_true")
    ft.set_defaults(func=_fit)

    args = ap.parse_args(argv)
    return args.func(args)
