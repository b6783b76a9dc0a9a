"""Progress bars that read well in a terminal and in an executed notebook.

Inside a Jupyter kernel the bar goes to stdout (not stderr, which the book treats
as noise) with a slow refresh, and the book's runner keeps only its final state.
"""

from __future__ import annotations

import sys

from tqdm.std import tqdm


def in_notebook() -> bool:
    return "ipykernel" in sys.modules and hasattr(sys.modules["ipykernel"], "kernelapp")


def progress(iterable=None, **kwargs) -> tqdm:
    """``tqdm`` with settings suited to where the code runs."""
    if in_notebook():
        kwargs.setdefault("file", sys.stdout)
        kwargs.setdefault("mininterval", 5.0)
        kwargs.setdefault("ncols", 96)
    kwargs.setdefault("dynamic_ncols", not in_notebook())
    return tqdm(iterable, **kwargs)
