"""Each text notebook is paired with an .ipynb (outside the book) that agrees with it."""

import jupytext
import pytest

from v1lib import book

from .conftest import ROOT

CHAPTERS = book.chapters(ROOT)


def test_there_are_chapters():
    assert CHAPTERS, "no chapters in notebooks/"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.name)
def test_pair_agrees(chapter):
    paired = ROOT / "notebooks" / "ipynb" / f"{chapter.name}.ipynb"
    assert paired.is_file(), f"{paired.name} missing: run `make sync`"
    text = jupytext.read(chapter.source, fmt="py:percent")
    nb = jupytext.read(paired)
    a = [(c.cell_type, c.source.strip()) for c in text.cells]
    b = [(c.cell_type, c.source.strip()) for c in nb.cells]
    assert a == b, f"{chapter.name}: .py and .ipynb disagree; run `make sync`"
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_no_notebook_inside_book_source():
    # executed chapters are written by the runner; none is committed beside the text files
    assert not list((ROOT / "book").glob("*.ipynb"))
    assert not list((ROOT / "notebooks").glob("*.ipynb"))
