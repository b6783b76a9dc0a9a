"""Every declared schema, by name, and how a dataset says which it follows."""

from __future__ import annotations

import xarray as xr

from .schema import Schema, SchemaError
from .session import SESSION
from .static import STATIC
from .task import TASK
from .video import VIDEO

SCHEMAS = {"static": STATIC, "video": VIDEO, "session": SESSION, "task": TASK}  # name -> Schema
# what files written before schemas had names say in their 'schema' attribute
_ALIASES = {"v1lib static": "static"}


def get(name: str) -> Schema:
    """The schema called ``name``; an unknown name names the known ones."""
    name = _ALIASES.get(name, name)
    if name not in SCHEMAS:
        raise SchemaError(f"unknown schema '{name}'; known: {sorted(SCHEMAS)}")
    return SCHEMAS[name]


def of(ds: xr.Dataset, source: str = "dataset") -> Schema:
    """The schema ``ds`` follows: the one its ``schema`` attribute names, else the
    one whose variables it holds."""
    if "schema" in ds.attrs:
        try:
            return get(str(ds.attrs["schema"]))
        except SchemaError as err:
            raise SchemaError(f"{source}: {err}") from None
    hits = [s for s in SCHEMAS.values() if set(s.variables) <= set(ds.variables)]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise SchemaError(f"{source}: holds the variables of schemas {[s.name for s in hits]}; "
                          "say which in its 'schema' attribute")
    need = "; ".join(f"{s.name}: {sorted(s.variables)}" for s in SCHEMAS.values())
    raise SchemaError(f"{source}: matches no declared schema (variables {sorted(ds.data_vars)}); "
                      f"each schema needs these variables: {need}")


def validate(ds: xr.Dataset, source: str = "dataset", schema: str | None = None) -> xr.Dataset:
    """Validate ``ds`` against ``schema`` (by name), or the one it follows."""
    if schema is None:
        return of(ds, source).validate(ds, source)
    try:
        declared = get(str(schema))
    except SchemaError as err:
        raise SchemaError(f"{source}: {err}") from None
    return declared.validate(ds, source)
