"""Shared caches under concurrency: processes that need the same dataset, model
or analysis result at once make it once, and every one gets it whole."""

import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
import xarray as xr
import yaml

from v1lib import book
from v1lib.data import load_scans
from v1lib.locking import lock_file, locked

from .conftest import ROOT, copy_project

N_PROCESSES = 3

# One process of the race: wait for the others at a barrier, then make the
# dataset, train the model and compute an analysis result, writing a line to
# the log for each expensive step it runs itself.
WORKER = r'''
import hashlib, json, os, sys, time
from pathlib import Path

import torch

torch.set_num_threads(1)
import v1lib.datasets as datasets
import v1lib.model_cache as model_cache
from v1lib.cache import cached_result
from v1lib.models import CoreConfig, ModelConfig
from v1lib.train import TrainConfig

tmp, me, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
log = tmp / "log"


def note(what):
    with open(log, "a") as f:  # one short append: whole lines even from many processes
        f.write(f"{what} {me}\n")


real_generators, real_fit = datasets._generators, model_cache.fit


def generators():
    gens = real_generators()

    def static(config, seed):
        cfg, names, simulate, version = gens["static"](config, seed)

        def sim(i, show, device):
            note(f"simulate {i}")
            time.sleep(0.3)  # a wider window for a race
            return simulate(i, show, device)

        return cfg, names, sim, version

    return {"static": static}


def fit(*args, **kwargs):
    note("fit")
    return real_fit(*args, **kwargs)


def compute():
    note("compute")
    time.sleep(0.3)
    import xarray as xr
    return xr.DataArray([1.0, 2.0, 3.0], dims="x", name="v")


datasets._generators, model_cache.fit = generators, fit
(tmp / f"ready-{me}").touch()
while len(list(tmp.glob("ready-*"))) < n:  # start together
    time.sleep(0.01)
res = tmp / "results"
scans = datasets.load("tiny", manifest=tmp / "manifest.yaml", results_dir=res,
                      show_progress=False)
core = CoreConfig(layers=1, channels=4, input_kernel=5, hidden_kernel=3)
train = TrainConfig(batch_size=32, max_epochs=2, patience=2, lr_decay_steps=1)
result = model_cache.fit_cached(scans, ModelConfig(core=core), train, 0, res, show_progress=False)
analysis = cached_result(res, "demo", {"n": 3}, 0, compute)
weights = hashlib.sha256(b"".join(v.numpy().tobytes() for v in result.model.state_dict().values()))
print(json.dumps({"folder": str(result.folder), "weights": weights.hexdigest(),
                  "val_score": result.history.val_score.values.tolist(),
                  "responses": float(sum(ds.responses.values.sum() for ds in scans.values())),
                  "analysis": analysis.v.values.tolist()}))
'''

ENTRY = {"kind": "simulated", "generator": "static", "seed": 4,
         "config": {"n_animals": 2, "n_train": 30, "n_validation": 6, "n_test_images": 4,
                    "test_repeats": 2, "population": {"n_neurons": 8}}}


@pytest.mark.slow
def test_processes_make_a_shared_dataset_model_and_result_once(tmp_path):
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump({"datasets": {"tiny": ENTRY}}))
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path), str(k),
                               str(N_PROCESSES)], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for k in range(N_PROCESSES)]
    outs = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=240)
        assert p.returncode == 0, stderr
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    # each expensive step ran once, in one process
    lines = (tmp_path / "log").read_text().splitlines()
    steps = sorted(line.rsplit(" ", 1)[0] for line in lines)
    assert steps == ["compute", "fit", "simulate 0", "simulate 1"], lines
    # and every process got the same, whole results
    assert all(o == outs[0] for o in outs[1:]), outs
    res = tmp_path / "results"
    data = list((res / "data").glob("tiny-*.nc"))
    assert len(data) == 1 and not list((res / "data").glob("*.parts"))
    scans = load_scans(data[0])
    assert list(scans) == ["insilico-4-1", "insilico-4-2"]
    assert sum(float(ds.responses.values.sum()) for ds in scans.values()) == pytest.approx(
        outs[0]["responses"])
    [folder] = (res / "models").iterdir()
    assert str(folder) == outs[0]["folder"]
    assert {"model.pt", "history.nc", "config.json", "provenance.json"} <= {
        p.name for p in folder.iterdir()} and not (folder / "checkpoint.pt").exists()
    torch.load(folder / "model.pt", weights_only=True)
    with xr.open_dataset(folder / "history.nc", engine="h5netcdf") as h:
        np.testing.assert_array_equal(h.val_score.values, outs[0]["val_score"])
    [result] = (res / "demo").glob("*/result.nc")
    with xr.open_dataset(result, engine="h5netcdf") as r:
        np.testing.assert_array_equal(r.v.values, [1.0, 2.0, 3.0])
    # nothing half-written anywhere
    assert not [p for p in res.rglob("*") if ".tmp" in p.name]


def test_runners_execute_a_chapter_once(tmp_path, monkeypatch):
    """Two book runners at once: one executes the chapter, the other waits for
    it and finds it fresh."""
    root = copy_project(tmp_path / "proj", with_chapters=False)
    (root / "notebooks" / "01_ok.py").write_text('# %% tags=["parameters"]\nprofile = "auto"\n')
    calls = []

    def execute(chapter, parameters, out, root):
        calls.append(chapter.name)
        time.sleep(0.3)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("{}")
        return 0.3

    monkeypatch.setattr(book, "execute", execute)
    reports, logs = [], []

    def run():
        reports.append(book.run(profile="smoke", book_dir=root / "book", results_dir=root / "res",
                                root=root, log=logs.append))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert calls == ["01_ok"]
    assert sorted(r[0]["executed"] for r in reports) == [False, True]
    assert any("01_ok: waiting for another process to finish" in m for m in logs), logs


def test_lock_waits_for_its_holder_and_times_out(tmp_path):
    target = tmp_path / "entry.nc"
    held, order = threading.Event(), []

    def holder():
        with locked(target):
            held.set()
            time.sleep(0.3)
            order.append("holder done")

    t = threading.Thread(target=holder)
    t.start()
    held.wait(5)
    with pytest.raises(TimeoutError, match=r"\.entry\.nc\.lock: still held by another process"):
        with locked(target, timeout=0.05, log=lambda m: None):
            pass
    messages = []
    with locked(target, log=messages.append):
        order.append("waiter")
    t.join()
    assert order == ["holder done", "waiter"]
    assert messages == [f"waiting for another process to finish {target}"]
    assert list(tmp_path.iterdir()) == []  # the lock file goes with its last holder
    assert lock_file(target) == tmp_path / ".entry.nc.lock"
    assert lock_file(tmp_path / "run", folder=True) == tmp_path / "run" / ".lock"


def test_a_killed_holder_releases_the_lock(tmp_path):
    target = tmp_path / "entry.nc"
    code = ("import sys, time; from v1lib.locking import locked\n"
            "with locked(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", code, str(target)], cwd=ROOT,
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "held"
        with pytest.raises(TimeoutError):
            with locked(target, timeout=0.05, log=lambda m: None):
                pass
    finally:
        p.kill()
        p.wait()
    with locked(target, timeout=5):
        pass


@pytest.mark.parametrize("folder", [False, True])
def test_no_two_holders_at_once(tmp_path, folder):
    """Many threads add one to a counter under the lock of a file or folder
    entry: none is lost, though every holder removes the lock file (and a folder
    it made) as it lets go."""
    counter, entry = tmp_path / "counter", tmp_path / "entry"
    counter.write_text("0")

    def add():
        for _ in range(20):
            with locked(entry, folder=folder, log=lambda m: None):
                n = int(counter.read_text())
                time.sleep(0.0005)
                counter.write_text(str(n + 1))

    threads = [threading.Thread(target=add) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert counter.read_text() == "120" and not lock_file(entry, folder).exists()


def test_a_folder_made_for_its_lock_goes_when_nothing_was_made_in_it(tmp_path):
    with pytest.raises(RuntimeError):
        with locked(tmp_path / "failed", folder=True):
            raise RuntimeError("the entry could not be made")
    assert not (tmp_path / "failed").exists()
    with locked(tmp_path / "made", folder=True):
        (tmp_path / "made" / "result.nc").write_text("whole")
    assert [p.name for p in (tmp_path / "made").iterdir()] == ["result.nc"]
    (tmp_path / "empty").mkdir()  # a folder that was there stays
    with locked(tmp_path / "empty", folder=True):
        pass
    assert (tmp_path / "empty").is_dir()


def test_two_html_builds_never_overlap(tmp_path, monkeypatch):
    """build_html holds the lock of the book's _build folder while jupyter-book runs."""
    active, overlaps = [], []

    def fake_run(cmd, **kwargs):
        active.append(1)
        overlaps.append(len(active) > 1)
        time.sleep(0.3)
        active.pop()
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(book.subprocess, "run", fake_run)
    (tmp_path / "book").mkdir()
    threads = [threading.Thread(target=book.build_html, args=(tmp_path / "book",),
                                kwargs={"log": lambda *_: None}) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == [False, False]


def test_a_file_where_the_entrys_folder_should_be_is_an_error_not_a_wait(tmp_path):
    (tmp_path / "entry").write_text("not a folder")
    with pytest.raises(FileExistsError):
        with locked(tmp_path / "entry", folder=True, timeout=1):
            pass
