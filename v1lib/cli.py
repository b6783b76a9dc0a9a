"""Command line: ``python -m v1lib <command>``.

  simulate static --seed N [--config FILE] --out FILE.nc
  book [--profile P] [--only CHAPTER ...] [--force] [--no-html]
  data NAME                       (make or fetch a dataset of the manifest)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml


def _simulate(args) -> int:
    from .data.netcdf import save_scans
    from .provenance import collect, netcdf_attrs
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
    prov = collect(config=cfg, seed=args.seed)
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
    from .data import load

    scans = load(args.name, results_dir=args.results_dir)
    for name, ds in scans.items():
        print(f"{name}: {ds.sizes['trial']} trials x {ds.sizes['neuron']} neurons")
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

    args = ap.parse_args(argv)
    return args.func(args)
