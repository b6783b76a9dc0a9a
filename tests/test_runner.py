"""The book runner: caching, failure handling, output tidying, profiles."""

import json

import nbformat
import pytest

from v1lib import book, profiles

from .conftest import ROOT, copy_project

OK = '''# %% [markdown]
# # A chapter

# %% tags=["parameters"]
profile = "auto"
seed = 0
device = "auto"
data = None
results_dir = None

# %%
import sys
from v1lib.progress import progress
for _ in progress(range(3), desc="work", mininterval=0):
    pass
print("seed is", seed)
'''

FAILS = '''# %% tags=["parameters"]
profile = "auto"

# %%
x = 1

# %%
raise RuntimeError("this chapter is broken")
'''


@pytest.fixture
def project(tmp_path):
    root = copy_project(tmp_path / "proj", with_chapters=False)
    (root / "notebooks" / "01_ok.py").write_text(OK)
    return root


def run(project, **kw):
    return book.run(profile="smoke", book_dir=project / "book", results_dir=project / "res",
                    root=project, log=lambda *_: None, **kw)


@pytest.mark.slow
def test_executes_then_skips_unchanged(project):
    first = run(project)
    assert [r["executed"] for r in first] == [True]
    out = project / "book" / "chapters" / "01_ok.ipynb"
    nb = nbformat.read(out, as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "seed is 2018" in text  # the profile's seed was injected
    assert "\r" not in text and text.count("work:") == 1  # the bar keeps its final state
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert ["parameters", "hide-cell"] in tags and ["injected-parameters", "remove-cell"] in tags
    assert not any(o.get("name") == "stderr" for c in nb.cells for o in c.get("outputs", []))

    second = run(project)
    assert [r["executed"] for r in second] == [False]
    # an edit to the chapter, a different profile parameter, or --force re-executes
    (project / "notebooks" / "01_ok.py").write_text(OK.replace("seed is", "seed =="))
    assert [r["executed"] for r in run(project)] == [True]
    prof = project / "profiles" / "smoke.yaml"
    prof.write_text(prof.read_text().replace("seed: 2018", "seed: 7"))
    assert [r["executed"] for r in run(project)] == [True]
    assert [r["executed"] for r in run(project, force=True)] == [True]


@pytest.mark.slow
def test_failing_chapter_names_chapter_cell_and_error(project):
    (project / "notebooks" / "02_broken.py").write_text(FAILS)
    run(project, only=["01"])
    with pytest.raises(book.ChapterError,
                       match=r"chapter 02_broken failed in code cell 3 \('raise RuntimeError"
                             r"\(\"this chapter is broken\"\)'\): RuntimeError: this chapter is broken"):
        run(project)
    chapters = project / "book" / "chapters"
    assert not (chapters / "02_broken.ipynb").exists()
    assert not (chapters / ".02_broken.stamp.json").exists()
    assert sorted(p.name for p in chapters.iterdir()) == [".01_ok.stamp.json", "01_ok.ipynb"]


@pytest.mark.slow
def test_failed_rerun_does_not_leave_stale_output(project):
    run(project)
    (project / "notebooks" / "01_ok.py").write_text(OK + "\n# %%\n1 / 0\n")
    with pytest.raises(book.ChapterError, match="ZeroDivisionError"):
        run(project)
    assert not (project / "book" / "chapters" / "01_ok.ipynb").exists()


def test_select_chapters(project):
    assert [c.name for c in book.select(["01"], project)] == ["01_ok"]
    with pytest.raises(ValueError, match="unknown chapter '07'"):
        book.select(["07"], project)


def test_profiles():
    assert set(profiles.available()) >= {"smoke", "cpu", "gpu"}
    assert profiles.resolve("auto") in ("cpu", "gpu")
    p = profiles.load("smoke")
    assert set(p["parameters"]) >= {"seed", "device", "data"}
    with pytest.raises(ValueError, match=r"unknown profile 'fast': choose from \['auto'"):
        profiles.load("fast")
    assert profiles.device("auto") in ("cpu", "cuda")


def test_carriage_returns_collapse():
    assert book._collapse_cr("a 0%\ra 50%\ra 100%\nnext\n") == "a 100%\nnext\n"
    assert book._collapse_cr("line\r\nkeep\n") == "line\r\nkeep\n"


def test_every_chapter_has_flat_parameters_cell():
    for ch in book.chapters(ROOT):
        nb = book.to_notebook(ch.source)
        cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(cells) == 1, ch.name
        names = {line.split("=")[0].strip() for line in cells[0].source.splitlines()
                 if "=" in line}
        data = {"04": {"video_data"}, "05": {"video_data"}, "06": {"video_data"},
                "07": {"freely_moving_data"}, "08": {"freely_moving_data"},
                "09": {"task_data"}, "10": {"data", "task_data"}, "11": set()}.get(ch.name[:2],
                                                                                   {"data"})
        # the closing chapter reads the ledger only: no data, seed or device
        common = {"profile", "results_dir"} | (set() if ch.name[:2] == "11" else {"seed", "device"})
        assert names == common | data, ch.name
        # the runner gives a chapter exactly the parameters it declares
        assert book.declared_parameters(ch) == names
        assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.slow
def test_stamp_records_profile(project):
    run(project)
    stamp = json.loads((project / "book" / "chapters" / ".01_ok.stamp.json").read_text())
    assert stamp["profile"] == "smoke" and len(stamp["key"]) == 64


def test_budgets_are_read_in_minutes_and_checked(tmp_path):
    cpu = profiles.load("cpu")["budgets"]
    assert cpu["chapters"]["02_readouts"] == 12 * 60 and cpu["book"] == 95 * 60
    static = [v for k, v in cpu["chapters"].items() if k[:2] in ("01", "02", "03")]
    assert len(static) == 3 and sum(static) <= 25 * 60 and max(cpu["chapters"].values()) <= 12 * 60
    video = [v for k, v in cpu["chapters"].items() if k[:2] in ("04", "05", "06")]
    assert len(video) == 3 and sum(video) <= 20 * 60
    task = [v for k, v in cpu["chapters"].items() if k[:2] in ("09", "10", "11")]
    assert len(task) == 3 and sum(task) <= 15 * 60
    assert sum(cpu["chapters"].values()) <= cpu["book"]  # the chapters fit the book's budget
    root = copy_project(tmp_path / "p", with_chapters=False)
    path = root / "profiles" / "smoke.yaml"
    text = path.read_text()
    for bad, message in (("budgets:\n  book: -3\n", "budget 'book' must be a positive number"),
                         ("budgets:\n  chapters: {01_x: fast}\n", "budget 'chapters.01_x'"),
                         ("budgets:\n  books: 3\n", r"unknown key\(s\) \['books'\]")):
        path.write_text(text.split("budgets:")[0] + bad)
        with pytest.raises(ValueError, match=message):
            profiles.load("smoke", root)


@pytest.mark.slow
def test_runner_reports_each_chapter_against_its_budget(project):
    path = project / "profiles" / "smoke.yaml"
    path.write_text(path.read_text().split("budgets:")[0]
                    + "budgets:\n  chapters: {01_ok: 0.0001}\n  book: 10\n")
    lines = []
    report = book.run(profile="smoke", book_dir=project / "book", results_dir=project / "res",
                      root=project, log=lines.append)
    assert report[0]["budget"] == pytest.approx(0.006)
    assert any("01_ok: done in" in ln and "OVER BUDGET" in ln and "of its budget of 0 s" in ln
               for ln in lines)
    assert "the whole book's budget: 600 s from scratch" in lines[-1]
