"""Data: declared schemas, NetCDF files of scans, and readers of the real datasets' formats."""

from .netcdf import load_scans, save_scans
from .schema import Schema, SchemaError
from .schemas import SCHEMAS
from .static import STATIC
from .video import VIDEO

__all__ = ["SCHEMAS", "STATIC", "VIDEO", "Schema", "SchemaError", "load_scans", "save_scans"]
