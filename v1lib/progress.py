"""Progress bars that read well in a terminal and in an executed notebook.

Inside a Jupyter kernel the bar goes to stdout (not stderr, which the book treats
as noise) with a slow refresh, and the book's runner keeps only its final state.
"""

from __future__ import annotations

import sys

from tqdm.std import tqdm


def in_notebook() -> bool:
    return "ipykernel" in sys.modules and hasattr(sys.modules["ipykernel"], "kernelapp")


class _Stream:
    """A bar's stream that notes whether the bars left it in mid-line."""

    mid_line = None  # the stream where the last thing a bar wrote did not end its line

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str):
        if text:
            ended = text.endswith(("\n", "\r"))
            if not ended or _Stream.mid_line is self._stream:
                _Stream.mid_line = None if ended else self._stream
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def end_line() -> None:
    """Close every open bar and, if a bar left stderr in mid-line (say, one
    stopped by Ctrl-C between its lines), end that line, so what is printed next
    starts on a line of its own."""
    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()
    if _Stream.mid_line is sys.stderr:
        sys.stderr.write("\n")
    _Stream.mid_line = None


def progress(iterable=None, **kwargs) -> tqdm:
    """``tqdm`` with settings suited to where the code runs."""
    if in_notebook():
        kwargs.setdefault("file", sys.stdout)
        kwargs.setdefault("mininterval", 5.0)
        kwargs.setdefault("ncols", 96)
    kwargs.setdefault("file", _Stream(sys.stderr))
    kwargs.setdefault("dynamic_ncols", not in_notebook())
    return tqdm(iterable, **kwargs)
