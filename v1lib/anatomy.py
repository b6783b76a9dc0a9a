"""MouseNet's architecture derived from anatomical tables (Shi et al. 2022).

Shi, Tripp, Shea-Brown, Mihalas & Buice (2022), PLoS Comput Biol 18(9): e1010427,
build a feedforward convolutional network whose populations are the excitatory
neurons of layers 2/3, 4 and 5 of seven visual areas, plus LGNd, and whose
projections follow the mouse connectome. The tables (``tables/mousenet_anatomy.yaml``,
each with its source) fix every number:

- a population's channels: its neurons over the pixels of its grid (64 px for
  LGNd and VISp, 32 px for the higher areas at a 64-px input), floored;
- the projections: within an area L4 -> L2/3 -> L5; every layer of each area at
  hierarchy level h - 1 -> L4 of each area at level h; VISp -> VISpor L4 too;
  LGNd -> VISp L4 and the stimulus -> LGNd; stride 2 where the grid halves;
- a projection's mask width ``sigma_px``: the anatomical width (interlaminar:
  Table 4 in um; interareal: the connectome's width in mm) times the source's
  pixels per um, ``sqrt(N / channels) / (sqrt(area mm^2) * 1000)``; the kernel
  spans +-1 sigma, ``2 int(sigma_px) + 1``;
- its mask peak: interlaminar ``p75 / exp(-75^2 / 2 sigma_um^2)`` (Table 5's
  probability at 75 um); interareal ``e / (C_source sum_kernel exp(-r^2 / 2
  sigma_px^2))``, so that a unit receives on average ``e`` extrinsic inputs
  (its share of 1000, by connectome weight); a peak above 1 saturates.
  The two LGN projections are dense.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from .config import load_yaml

TABLES = Path(__file__).parent / "tables" / "mousenet_anatomy.yaml"
SECTIONS = ("neurons", "hierarchy", "connectivity", "interlaminar_width",
            "connection_probability_75um", "interareal", "surface_area_mm2", "lgn", "grids",
            "outputs")
INPUT = "input"  # the stimulus: a source, not a population
OFFSET_UM = 75.0  # the horizontal offset of Table 5's probabilities


@dataclass(frozen=True)
class Population:
    name: str  # area + layer: "VISp4", "VISp2/3"; "LGNd"
    area: str
    layer: str | None  # "2/3", "4", "5"; None for LGNd
    level: int  # hierarchy level
    neurons: int  # excitatory neurons (Table 3)
    grid: int  # px per side
    channels: int


@dataclass(frozen=True)
class Projection:
    source: str  # a population's name, or "input"
    target: str
    sigma_px: float  # width of the Gaussian connection probability
    kernel: int
    stride: int
    peak: float  # mask probability at the kernel's centre (above 1: saturates)
    padding: tuple[int, int, int, int]  # for F.pad: left, right, top, bottom
    dense: bool  # no mask (the LGN projections)

    @property
    def name(self) -> str:
        return f"{self.source}->{self.target}"

    def probability(self) -> np.ndarray:
        """The (kernel, kernel) probability of a connection, min(1, peak exp(-r^2 / 2 sigma^2))."""
        if self.dense:
            return np.ones((self.kernel, self.kernel))
        return np.minimum(1.0, self.peak * gaussian(self.kernel, self.sigma_px))


@dataclass(frozen=True)
class Architecture:
    input_size: int
    in_channels: int
    populations: tuple[Population, ...]  # in topological order
    projections: tuple[Projection, ...]  # grouped by target, in topological order
    outputs: tuple[str, ...]  # the populations the classifier reads
    width: float = 1.0

    def population(self, name: str) -> Population:
        for p in self.populations:
            if p.name == name:
                return p
        raise ValueError(f"no population '{name}'; known: {[p.name for p in self.populations]}")

    def inputs_of(self, name: str) -> tuple[Projection, ...]:
        """The projections into population ``name``."""
        if name != INPUT:
            self.population(name)
        return tuple(p for p in self.projections if p.target == name)

    def channels(self, name: str) -> int:
        return self.in_channels if name == INPUT else self.population(name).channels

    def expected_inputs(self, projection: Projection) -> float:
        """Mean number of unmasked weights onto one target unit."""
        return self.channels(projection.source) * float(projection.probability().sum())


def gaussian(kernel: int, sigma: float) -> np.ndarray:
    """exp(-r^2 / 2 sigma^2) on a (kernel, kernel) grid of px about its centre."""
    r = np.arange(kernel) - kernel // 2
    return np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))


class Tables:
    """The anatomical tables of one YAML file; :meth:`get` reads a value by its
    dotted key and names the file and the key if it is missing or malformed."""

    def __init__(self, data, path: Path):
        self.path = Path(path)
        if not isinstance(data, dict):
            raise ValueError(f"{self.path}: expected a mapping of tables, got {type(data).__name__}")
        self.data = data

    def get(self, key: str, kind: type = float):
        node = self.data
        for i, part in enumerate(key.split(".")):
            here = ".".join(key.split(".")[:i + 1])
            if not isinstance(node, dict):
                raise ValueError(f"{self.path}: '{here}' must be a mapping, got {node!r}")
            if part not in node and part.isdigit() and int(part) in node:
                part = int(part)  # an unquoted layer key
            if part not in node:
                raise ValueError(f"{self.path}: missing key '{here}'")
            node = node[part]
        return _checked(node, kind, f"{self.path}: '{key}'")

    def keys(self, key: str) -> list[str]:
        """The keys of mapping ``key`` but 'source'."""
        return [str(k) for k in self.get(key, dict) if k != "source"]


def _checked(value, kind: type, where: str):
    ok = {float: isinstance(value, (int, float)) and not isinstance(value, bool),
          int: isinstance(value, int) and not isinstance(value, bool)}.get(kind)
    if ok is None:
        ok = isinstance(value, kind)
    if not ok:
        what = {float: "a number", int: "an integer", dict: "a mapping", list: "a list",
                str: "a string"}.get(kind, kind.__name__)
        raise ValueError(f"{where} must be {what}, got {value!r}")
    return float(value) if kind is float else value


def _matrix(t: Tables, key: str, n: int) -> np.ndarray:
    rows = t.get(key, list)
    if len(rows) != n or any(not isinstance(r, list) or len(r) != n for r in rows):
        raise ValueError(f"{t.path}: '{key}' must be a {n} x {n} matrix (rows of {n} numbers)")
    return np.array([[_checked(v, float, f"{t.path}: '{key}'") for v in r] for r in rows])


def _validate(t: Tables) -> None:
    for s in SECTIONS:
        t.get(f"{s}.source", str)
    layers = t.get("interlaminar_width.layers", list)
    cat = _matrix(t, "interlaminar_width.cat_um", len(layers))
    scale = t.get("interlaminar_width.mouse_scale", list)
    if len(scale) != 2:
        raise ValueError(f"{t.path}: 'interlaminar_width.mouse_scale' must be [mouse, cat] um")
    scale = [_checked(v, float, f"{t.path}: 'interlaminar_width.mouse_scale'") for v in scale]
    mouse = _matrix(t, "interlaminar_width.mouse_um", len(layers))
    if not np.allclose(mouse, cat * scale[0] / scale[1], atol=0.051):
        raise ValueError(f"{t.path}: 'interlaminar_width.mouse_um' differs from cat_um x "
                         "mouse_scale by more than its rounding")
    if t.get("connection_probability_75um.layers", list) != layers:
        raise ValueError(f"{t.path}: 'connection_probability_75um.layers' must be the layers "
                         f"of interlaminar_width, {layers}")
    _matrix(t, "connection_probability_75um.p", len(layers))
    for area in t.keys("hierarchy"):
        t.get(f"hierarchy.{area}", int)


@functools.lru_cache(maxsize=8)
def _load(path: Path, mtime_ns: int) -> Tables:
    try:
        data = load_yaml(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"{path}: cannot read the anatomical tables: {e}") from e
    t = Tables(data, path)
    _validate(t)
    _derive(t, 1.0, int(t.get("grids.input_size", int)), 3)  # reads every other key
    return t


def load_tables(path: str | Path | None = None) -> Tables:
    """The anatomical tables of ``path`` (default: the packaged file), validated."""
    path = Path(path) if path is not None else TABLES
    if not path.is_file():
        raise ValueError(f"{path}: no such file of anatomical tables")
    return _load(path, path.stat().st_mtime_ns)  # read again once edited


def _layer_order(t: Tables) -> list[str]:
    """The layers in feedforward order: the input layer, then the within-area chain."""
    order = [t.get("connectivity.input_layer", str)]
    pairs = [tuple(map(str, p)) for p in t.get("connectivity.within_area", list)]
    while nxt := [b for a, b in pairs if a == order[-1] and b not in order]:
        order.append(nxt[0])
    return order


def _areas(t: Tables) -> list[str]:
    """The areas by hierarchy level (stable in the table's order)."""
    return sorted(t.keys("hierarchy"), key=lambda a: t.get(f"hierarchy.{a}", int))


def _grid(t: Tables, area: str, input_size: int) -> int:
    paper, base = t.get(f"grids.px.{area}", int), t.get("grids.input_size", int)
    if paper * input_size % base:
        step = math.lcm(*(base // math.gcd(base, t.get(f"grids.px.{a}", int)) for a in _areas(t)))
        raise ValueError(f"option 'input_size' must give whole grids: {area} is {paper} px at "
                         f"input_size {base}, so input_size must be a multiple of {step}; got "
                         f"{input_size}")
    return paper * input_size // base


def _populations(t: Tables, width: float, input_size: int) -> list[Population]:
    pops = []
    for area in _areas(t):
        level = t.get(f"hierarchy.{area}", int)
        grid, paper = _grid(t, area, input_size), t.get(f"grids.px.{area}", int)
        single = isinstance(t.get(f"neurons.{area}", object), int)
        for layer in [None] if single else _layer_order(t):
            name = area if layer is None else area + layer
            n = t.get(f"neurons.{area}" if layer is None else f"neurons.{area}.{layer}", int)
            pops.append(Population(name, area, layer, level, n, grid,
                                   max(1, math.floor(width * n / paper**2))))
    return pops


def _sources(t: Tables, target: Population, pops: dict[str, Population]) -> list[str]:
    """The populations projecting to ``target``, lower levels first."""
    if target.level == 0:
        return [INPUT]
    if target.layer != t.get("connectivity.input_layer", str):
        pairs = [tuple(map(str, p)) for p in t.get("connectivity.within_area", list)]
        return [target.area + a for a, b in pairs if b == target.layer]
    extra = t.get("connectivity.extra_sources", dict).get(target.area, [])
    out = [str(x) for x in t.get("connectivity.output_layers", list)]
    return [p.name for p in pops.values()
            if (p.level == target.level - 1 or p.area in extra) and (p.layer in out or p.level == 0)]


def _pixels_per_um(t: Tables, p: Population) -> float:
    """The source's px per um of cortex at the paper's scale."""
    paper = t.get(f"grids.px.{p.area}", int)
    area_mm2 = t.get(f"surface_area_mm2.{p.area}.{p.layer}")
    return math.sqrt(p.neurons / max(1, p.neurons // paper**2)) / (math.sqrt(area_mm2) * 1000)


def _mask(t: Tables, src: Population | None, tgt: Population, scale: float
          ) -> tuple[float, float | None, bool]:
    """sigma_px, the peak (None: from the in-degree, once the kernel is known), dense."""
    if src is None or src.level == 0:
        key = f"lgn.{'input' if src is None else src.name}_to_{tgt.name}"
        return t.get(f"{key}.sigma_px") * scale, 1.0, True
    if src.area == tgt.area:
        layers = [str(x) for x in t.get("interlaminar_width.layers", list)]
        i, j = layers.index(src.layer), layers.index(tgt.layer)
        mouse, cat = t.get("interlaminar_width.mouse_scale", list)
        sigma_um = _matrix(t, "interlaminar_width.cat_um", len(layers))[i, j] * mouse / cat
        p75 = _matrix(t, "connection_probability_75um.p", len(layers))[i, j]
        peak = p75 / math.exp(-OFFSET_UM**2 / (2 * sigma_um**2))
        return sigma_um * _pixels_per_um(t, src) * scale, peak, False
    sigma_mm = t.get(f"interareal.targets.{tgt.name}.{src.name}.sigma_mm")
    return sigma_mm * 1000 * _pixels_per_um(t, src) * scale, None, False


def _padding(kernel: int, stride: int) -> tuple[int, int, int, int]:
    """Padding that keeps the grid (stride 1) or halves it exactly (stride 2:
    one more pixel right and below, as in the paper's code)."""
    if stride == 1:
        return (kernel // 2,) * 4
    a, b = max(0, (kernel - 3) // 2), (kernel - 1) // 2
    return (a, b, a, b)


def _projection(t: Tables, src: Population | None, tgt: Population, src_grid: int,
                scale: float) -> Projection:
    sigma, peak, dense = _mask(t, src, tgt, scale)
    kernel = 2 * int(sigma) + 1
    stride = src_grid // tgt.grid
    if stride not in (1, 2) or src_grid != stride * tgt.grid:
        raise ValueError(f"{t.path}: grids of {src_grid} px -> {tgt.grid} px need a stride of "
                         "1 or 2")
    if peak is None:
        e = t.get(f"interareal.targets.{tgt.name}.{src.name}.in_degree")
        peak = e / (src.channels * float(gaussian(kernel, sigma).sum()))
    return Projection(INPUT if src is None else src.name, tgt.name, sigma, kernel, stride,
                      peak, _padding(kernel, stride), dense)


def _derive(t: Tables, width: float, input_size: int, in_channels: int) -> Architecture:
    scale = input_size / t.get("grids.input_size", int)
    pops = {p.name: p for p in _populations(t, width, input_size)}
    projections = []
    for tgt in pops.values():
        for s in _sources(t, tgt, pops):
            src = pops.get(s)
            projections.append(_projection(t, src, tgt, input_size if src is None else src.grid,
                                           scale))
    outputs = tuple(str(o) for o in t.get("outputs.populations", list))
    for o in outputs:
        if o not in pops:
            raise ValueError(f"{t.path}: 'outputs.populations' names '{o}', not a population")
    return Architecture(input_size, in_channels, tuple(pops.values()), tuple(projections),
                        outputs, width)


def architecture(width: float = 1.0, input_size: int = 64, in_channels: int = 3,
                 tables: str | Path | Tables | None = None) -> Architecture:
    """MouseNet's populations and projections (the paper's network: width 1,
    input_size 64, in_channels 3).

    ``width`` multiplies the channels: ``max(1, floor(width N / grid_paper^2))``;
    a unit's expected extrinsic inputs stay those of the paper (the interareal
    peaks grow as the source's channels shrink, saturating at 1), and the kernels
    do not change (px per um use the paper's channels). ``input_size`` scales
    every grid by ``input_size / 64`` (the grids must stay whole) and every
    ``sigma_px`` by the same factor; kernels follow the scaled widths.
    ``tables``: a YAML file or loaded :class:`Tables` (default: the packaged file).
    """
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not 0 < width < math.inf:
        raise ValueError(f"option 'width' must be a positive number, got {width!r}")
    for name, v in (("input_size", input_size), ("in_channels", in_channels)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"option '{name}' must be a positive integer, got {v!r}")
    t = tables if isinstance(tables, Tables) else load_tables(tables)
    return _derive(t, float(width), input_size, in_channels)
