"""Figure style and small plotting helpers shared by the chapters."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

PALETTE = {"natural": "#4c72b0", "dead_leaves": "#dd8452", "pink_noise": "#55a868",
           "simple": "#4c72b0", "complex": "#c44e52", "corner": "#8172b3"}


def setup() -> None:
    """House style: seaborn ticks, readable fonts, figures sized for the book."""
    import seaborn as sns

    sns.set_theme(context="notebook", style="ticks", font_scale=0.9)
    mpl.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "axes.spines.top": False,
                         "axes.spines.right": False, "figure.constrained_layout.use": True,
                         "image.cmap": "gray"})


def image_grid(images, titles=None, ncols: int = 6, vmin=0, vmax=255, width: float = 10):
    """A grid of greyscale images without axes."""
    n = len(images)
    nrows = int(np.ceil(n / ncols))
    h, w = images[0].shape
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, width / ncols * h / w * nrows * 1.15),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, img) in enumerate(zip(axes.flat, images)):
        ax.imshow(img, vmin=vmin, vmax=vmax, interpolation="nearest")
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    return fig, axes


def mousenet_graph(arch, ax=None):
    """MouseNet's populations (name and channels), placed by hierarchy level (x)
    and layer (y), and its projections as arrows whose width grows with the
    expected inputs a target unit receives through them."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch

    if ax is None:
        _, ax = plt.subplots(figsize=(11, 4.2))
    pos = {"input": (0.0, 1.0)}
    x, level, area = 0.0, None, None
    for p in arch.populations:
        if p.area != area:
            x += 1.3 if p.level != level else 1.0
            level, area = p.level, p.area
        pos[p.name] = (x, {"2/3": 2.0, "4": 1.0, "5": 0.0}.get(p.layer, 1.0))
    colours = {"stimulus": "0.45", "within area": "#dd8452", "between areas": "#4c72b0"}
    for q in arch.projections:
        kind = ("stimulus" if q.dense else
                "within area" if arch.population(q.source).area == arch.population(q.target).area
                else "between areas")
        (x0, y0), (x1, y1) = pos[q.source], pos[q.target]
        # L2/3 -> L5 bows round L4; long projections arc over the areas between
        rad = (0.45 if abs(y1 - y0) > 1.5 else 0.0 if kind != "between areas" or
               abs(x1 - x0) < 1.1 and y0 == y1 else 0.12)
        lw = 0.3 + 0.7 * np.log10(1 + arch.expected_inputs(q))
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=8,
                                     lw=lw, color=colours[kind], alpha=0.55, shrinkA=11,
                                     shrinkB=11, connectionstyle=f"arc3,rad={rad}"))
    for name, (x, y) in pos.items():
        c = arch.channels(name)
        ax.scatter([x], [y], s=60 + 6 * c, color="white", edgecolor="0.2", zorder=3)
        ax.text(x, y - 0.2, f"{name}\n{c} ch", ha="center", va="top", fontsize=7, zorder=4)
    levels = {}
    for p in arch.populations:
        levels.setdefault(p.level, []).append(pos[p.name][0])
    for lv, xs in levels.items():
        ax.text(np.mean(xs), 2.45, f"level {lv}", ha="center", fontsize=8, color="0.35")
    handles = [Line2D([], [], color=c, lw=1.5, label=k) for k, c in colours.items()]
    handles += [Line2D([], [], color="0.3", lw=0.3 + 0.7 * np.log10(1 + n),
                       label=f"{n} inputs per unit") for n in (10, 100, 1000)]
    ax.legend(handles=handles, loc="upper left", fontsize=7, frameon=False)
    ax.set_xlim(-0.5, max(x for x, _ in pos.values()) + 0.5)
    ax.set_ylim(-0.75, 2.65)
    ax.set_axis_off()
    ax.set_title(f"MouseNet: {len(arch.populations)} populations, {len(arch.projections)} "
                 f"projections ({arch.input_size} px input, width {arch.width:g})")
    return ax
