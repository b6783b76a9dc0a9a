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
