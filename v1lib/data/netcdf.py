"""NetCDF files of scans: one group per scan, written atomically.

The file's ``schema`` attribute names the schema its scans follow
(:mod:`v1lib.data.schemas`); reading validates every scan against it. A plain
one-scan NetCDF file without the attribute is validated against the schema
whose variables it holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from ..cache import atomic_path
from . import schemas

ENGINE = "h5netcdf"


def save_scans(scans: dict[str, xr.Dataset], path, attrs: dict | None = None) -> Path:
    """Write ``{scan: Dataset}`` to ``path`` (one NetCDF group per scan).

    The file appears only when complete: an interrupted write leaves nothing.
    """
    path = Path(path)
    if not scans:
        raise ValueError("no scans to write")
    found = {n: schemas.of(ds, f"{path.name} (scan '{n}')").name for n, ds in scans.items()}
    if len(set(found.values())) > 1:
        raise ValueError(f"{path.name}: the scans follow different schemas {found}; a file holds "
                         "scans of one schema")
    name = next(iter(found.values()))
    with atomic_path(path) as tmp:
        root = xr.Dataset(attrs={**(attrs or {}), "scans": json.dumps(list(scans)),
                                 "schema": name})
        root.to_netcdf(tmp, mode="w", engine=ENGINE)
        for name, ds in scans.items():
            ds = ds.copy()
            for k, v in list(ds.variables.items()):
                if v.dtype == bool:  # NetCDF has no boolean type
                    ds[k] = v.astype(np.int8)
                    ds[k].attrs["dtype"] = "bool"
            ds.to_netcdf(tmp, mode="a", group=f"scans/{name}", engine=ENGINE)
    return path


def load_scans(path, validate: bool = True) -> dict[str, xr.Dataset]:
    """Read a file written by :func:`save_scans`, or a plain one-scan NetCDF file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such data file")
    try:
        with xr.open_dataset(path, engine=ENGINE) as root:
            root_attrs = dict(root.attrs)
            single = "responses" in root.variables
            if single:
                scans = {str(root.attrs.get("scan", path.stem)): root.load()}
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable NetCDF file ({err})") from None
    if not single:
        if "scans" not in root_attrs:
            raise ValueError(f"{path}: neither a scan (no 'responses') nor a file of scans "
                             "(no 'scans' attribute)")
        scans = {}
        for name in _scan_names(path, root_attrs["scans"]):
            try:
                with xr.open_dataset(path, group=f"scans/{name}", engine=ENGINE) as g:
                    ds = g.load()
            except (OSError, ValueError, KeyError) as err:
                raise ValueError(f"{path}: cannot read group 'scans/{name}', which its 'scans' "
                                 f"attribute lists ({type(err).__name__}: {err})") from None
            for k, v in list(ds.variables.items()):
                if v.attrs.get("dtype") == "bool":
                    ds[k] = v.astype(bool)
                    ds[k].attrs.pop("dtype", None)
            ds.attrs.update({k: v for k, v in root_attrs.items()
                             if k not in ds.attrs and k != "scans"})
            scans[name] = ds
    if validate:
        for name, ds in scans.items():
            schemas.validate(ds, source=f"{path.name} (scan '{name}')",
                             schema=None if single else root_attrs.get("schema"))
    return scans


def _scan_names(path: Path, attr) -> list[str]:
    """The scan names of a file's ``scans`` attribute (a JSON list of names)."""
    try:
        names = json.loads(attr)
    except (TypeError, ValueError):
        names = None
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        raise ValueError(f"{path}: attribute 'scans' must be a JSON list of scan names, "
                         f"got {str(attr)[:80]!r}")
    return names
