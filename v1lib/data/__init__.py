"""Data: the static schema, NetCDF files of scans and the data manifest."""

from .manifest import ManifestError, fetch, load, read_manifest
from .netcdf import load_scans, save_scans
from .schema import SchemaError, validate_static

__all__ = ["ManifestError", "SchemaError", "fetch", "load", "load_scans", "read_manifest",
           "save_scans", "validate_static"]
