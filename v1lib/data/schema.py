"""Declared data schemas: what a dataset of one kind of experiment holds, how
it is validated, and which variables a model reads.

A :class:`Schema` lists the variables and coordinates with their dims, the
coordinate values that are fixed (e.g. the names of the behaviour variables),
the values a categorical coordinate may take, the dimension that indexes samples
(tiers, repeats and training batches run along it) and, for recordings in time,
the dimension of time within a sample, the key that marks repeats of a
stimulus, and the model inputs: the
variable that plays each role (``stimulus``, ``eye``, ``behavior``) and how it
is normalised. Every schema has a ``tier`` coordinate along its samples; the
responses of recorded neurons have a ``neuron`` dimension (last), the targets of
a task (class labels) have none. Further checks of one schema run after the
generic ones (``checks``). Files (their ``schema`` attribute),
validation, the training tensors and the evaluation dispatch on it;
:mod:`v1lib.data.schemas` registers each one, and the simulators and readers of
the manifest make datasets in one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr


class SchemaError(ValueError):
    """A dataset does not follow its schema."""


@dataclass(frozen=True)
class Input:
    """A variable a model reads: its role in the model and its normalisation."""

    variable: str
    role: str  # "stimulus", "eye", "behavior", ...
    center: bool  # z-score (else divide by the SD only)
    per_column: bool  # one statistic per column of the last axis (else one over all values)
    channel: bool = False  # the model sees it with a channel axis after the sample axis
    # a fixed (mean, SD) instead of the training samples' statistics: the same scale for
    # every subset of the data a model is trained on (e.g. the stimulus domains of videos)
    fixed: tuple[float, float] | None = None


@dataclass(frozen=True)
class Schema:
    name: str
    description: str
    sample_dim: str  # tiers, repeats and training batches run along it
    variables: dict  # name -> dims
    coords: dict  # name -> dims
    labels: dict  # coordinate -> the values it must hold, in order
    tiers: frozenset
    repeat_key: str | None  # samples that share it repeat one stimulus (None: no repeats)
    inputs: tuple  # of Input
    categories: dict = field(default_factory=dict)  # coordinate -> the values it may take
    time_dim: str | None = None  # the dimension of time within a sample (a recurrent model's)
    # samples are time bins of one continuous recording, cut into blocks by this coordinate
    # (with the tier): a model reads each bin's history within its block (None: independent samples)
    block_key: str | None = None
    # the target: non-negative with neuron on the last axis (recordings), or without a
    # neuron dimension (e.g. class labels)
    responses: str = "responses"
    finite_coords: tuple = ("cortical_x", "cortical_y", "cortical_z")
    unique_coords: tuple = ("unit_id",)
    checks: tuple = ()  # further checks of this schema, each (ds, source) -> None or SchemaError

    @property
    def has_neurons(self) -> bool:
        """Whether the responses are those of neurons (a ``neuron`` dimension)."""
        return "neuron" in self.variables[self.responses]

    def input(self, role: str) -> Input:
        for i in self.inputs:
            if i.role == role:
                return i
        raise KeyError(f"schema '{self.name}' has no input in role '{role}'")

    def validate(self, ds: xr.Dataset, source: str = "dataset") -> xr.Dataset:
        """Check ``ds``; raise :class:`SchemaError` naming the file (``source``),
        variable and problem. Returns ``ds`` unchanged."""

        def fail(msg):
            raise SchemaError(f"{source}: {msg}")

        if not isinstance(ds, xr.Dataset):
            fail(f"expected an xarray.Dataset, got {type(ds).__name__}")
        for name, dims in {**self.variables, **self.coords}.items():
            kind = "variable" if name in self.variables else "coordinate"
            if name not in ds.variables:
                fail(f"missing {kind} '{name}' with dims {dims}")
            if ds[name].dims != dims:
                fail(f"{kind} '{name}' has dims {ds[name].dims}; expected {dims}")
        for name in self.variables:
            _check_numeric(ds, name, fail)
        if self.has_neurons:
            if ds.sizes[self.sample_dim] < 1 or ds.sizes["neuron"] < 1:
                fail(f"needs at least one {self.sample_dim} and one neuron")
            if (ds[self.responses].values < 0).any():
                fail(f"variable '{self.responses}' has negative values; expected non-negative "
                     "activity (e.g. deconvolved calcium traces)")
        elif ds.sizes[self.sample_dim] < 1:
            fail(f"needs at least one {self.sample_dim}")
        for dim, expected in self.labels.items():
            got = [str(v) for v in ds[dim].values] if dim in ds.coords else None
            if got != list(expected):
                fail(f"coordinate '{dim}' must be {list(expected)}, got {got}")
        for dim, allowed in self.categories.items():
            bad = sorted(set(str(v) for v in np.unique(ds[dim].values)) - set(allowed))
            if bad:
                fail(f"coordinate '{dim}' has unknown value(s) {bad}; allowed: {list(allowed)}")
        tiers = set(str(t) for t in np.unique(ds["tier"].values))
        if not tiers <= self.tiers:
            fail(f"coordinate 'tier' has unknown value(s) {sorted(tiers - self.tiers)}; "
                 f"allowed: {sorted(self.tiers)}")
        for name in self.finite_coords:
            if not np.all(np.isfinite(ds[name].values.astype(float))):
                fail(f"coordinate '{name}' holds NaN values")
        for name in self.unique_coords:
            if len(np.unique(ds[name].values)) != ds[name].size:
                fail(f"coordinate '{name}' has duplicate values")
        for check in self.checks:
            check(ds, source)
        return ds


def _check_numeric(ds: xr.Dataset, name: str, fail) -> None:
    if not np.issubdtype(ds[name].dtype, np.number):
        fail(f"variable '{name}' must be numeric, got dtype {ds[name].dtype}")
    values = ds[name].values
    if not np.all(np.isfinite(values)):
        bad = int(np.size(values) - np.isfinite(values).sum())
        fail(f"variable '{name}' holds {bad} NaN or infinite value(s)")
