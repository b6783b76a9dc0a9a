"""Sweeps that train several models at once give what one after the other gives."""

import os
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pytest
import torch
import xarray as xr

from v1lib import parallel
from v1lib.studies import readouts
from v1lib.studies.sweep import sweep
from v1lib.train import TrainConfig


def test_jobs_run_in_workers_keep_their_order_and_see_the_callers_data(monkeypatch):
    monkeypatch.setenv(parallel.ENV, "2")
    data = np.arange(10.0)  # reached by the closure, not sent to the workers
    jobs = [(k,) for k in range(7)]
    out = parallel.run_jobs(lambda k: (k, float(data[k] ** 2), torch.get_num_threads()), jobs,
                            desc="squares")
    assert [o[:2] for o in out] == [(k, float(k * k)) for k in range(7)]
    assert {o[2] for o in out} == {1}  # one thread in every worker


def test_a_job_that_fails_raises_its_error_in_the_caller(monkeypatch):
    monkeypatch.setenv(parallel.ENV, "2")

    def job(k):
        if k == 2:
            raise ValueError(f"bad job {k}")
        return k

    with pytest.raises(ValueError, match="bad job 2"):
        parallel.run_jobs(job, [(k,) for k in range(4)])


def test_an_interrupt_in_a_worker_reaches_the_caller_and_a_dead_worker_is_reported(monkeypatch):
    monkeypatch.setenv(parallel.ENV, "2")

    def interrupted(k):
        if k == 1:
            raise KeyboardInterrupt("stopped")
        return k

    with pytest.raises(KeyboardInterrupt):
        parallel.run_jobs(interrupted, [(k,) for k in range(3)], show_progress=False)

    def dies(k):
        if k == 0:
            os._exit(3)
        return k

    with pytest.raises(BrokenProcessPool):
        parallel.run_jobs(dies, [(k,) for k in range(2)], show_progress=False)
    assert parallel.run_jobs(lambda k: k, [(1,), (2,)], show_progress=False) == [1, 2]


def test_the_worker_count_follows_the_setting_the_device_and_the_jobs(monkeypatch):
    monkeypatch.setenv(parallel.ENV, "3")
    assert parallel.workers("cpu") == 3
    assert parallel.workers("cpu", jobs=2) == 2
    assert parallel.workers("cuda") == 1
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(parallel.ENV, bad)
        with pytest.raises(ValueError, match=parallel.ENV):
            parallel.workers("cpu")
    monkeypatch.delenv(parallel.ENV)
    assert 1 <= parallel.workers("cpu") <= parallel.MAX_WORKERS


def test_sweep_results_do_not_depend_on_the_number_of_workers(monkeypatch):
    jobs = [(a, b) for a in ("x", "y") for b in (1, 2, 3)]

    def run(a, b):
        return {"score": b * (1.5 if a == "x" else 2.0), "n_neurons": 1}

    out = {}
    for n in ("1", "2"):
        monkeypatch.setenv(parallel.ENV, n)
        out[n] = sweep(jobs, run, ("name", "value"))
    xr.testing.assert_identical(out["1"], out["2"])
    assert float(out["2"].score.sel(name="y", value=3)) == 6.0


def test_thread_count_is_part_of_the_training_configuration():
    with pytest.raises(ValueError, match="'threads'"):
        TrainConfig.from_dict({"threads": 0})
    before = torch.get_num_threads()
    with parallel.threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


@pytest.mark.slow
def test_models_trained_side_by_side_equal_those_trained_one_after_another(
        tiny_scans, tmp_path, monkeypatch):
    """Two workers train the same weights and scores as one process does."""
    out = {}
    for n in ("1", "2"):
        monkeypatch.setenv(parallel.ENV, n)
        out[n] = readouts.readout_comparison(tiny_scans, "smoke", ["gaussian", "factorized"],
                                             tmp_path / n)
    # training's wall time is recorded beside the scores, and is all that may differ
    assert all((o.train_seconds > 0).all() for o in out.values())
    xr.testing.assert_identical(*(o.drop_vars("train_seconds") for o in out.values()))
    for a in (tmp_path / "1" / "models").iterdir():
        one = torch.load(a / "model.pt", weights_only=True)
        two = torch.load(tmp_path / "2" / "models" / a.name / "model.pt", weights_only=True)
        assert one.keys() == two.keys()
        for k in one:
            assert torch.equal(one[k], two[k]), (a.name, k)
