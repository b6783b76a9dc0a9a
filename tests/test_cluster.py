"""Sweeps on a Dask cluster: the executor setting, the same numbers as in one
process, and a worker that dies in the middle of a fit."""

import os

import pytest
import torch
import xarray as xr

from v1lib import cluster, parallel, train
from v1lib.studies import readouts, static


def test_the_executor_setting_is_read_and_checked(monkeypatch):
    assert cluster.executor("") is None
    assert cluster.executor("processes") is None
    assert cluster.executor("dask") == cluster.Executor("local")
    assert cluster.executor("dask:3") == cluster.Executor("local", workers=3)
    assert cluster.executor("slurm:4") == cluster.Executor("slurm", workers=4)
    assert cluster.executor("tcp://10.0.0.1:8786").address == "tcp://10.0.0.1:8786"
    for bad in ("dask:0", "dask:two", "slurm:", "threads", "tcp://", "http://host:80"):
        with pytest.raises(ValueError, match=r"\$V1LIB_EXECUTOR") as err:
            cluster.executor(bad)
        assert repr(bad) in str(err.value)
    monkeypatch.setenv(cluster.ENV, "dask:2")
    assert cluster.executor() == cluster.Executor("local", workers=2)
    monkeypatch.setenv(cluster.ENV, "nonsense")
    with pytest.raises(ValueError, match="nonsense"):
        parallel.run_jobs(lambda k: k, [(1,)])


@pytest.fixture(scope="module")
def local_cluster():
    """A LocalCluster of two worker processes, shared by this file's tests."""
    pytest.importorskip("distributed")
    cluster.client(cluster.executor("dask:2"))
    yield "dask:2"
    cluster.close()


@pytest.mark.slow
def test_a_local_cluster_runs_a_sweep_with_the_numbers_of_one_process(
        local_cluster, tiny_scans, tmp_path, monkeypatch):
    out = {}
    for name, executor in (("processes", "processes"), ("dask", local_cluster)):
        monkeypatch.setenv(cluster.ENV, executor)
        monkeypatch.setenv(parallel.ENV, "1")
        out[name] = readouts.readout_comparison(tiny_scans, "smoke", ["gaussian", "factorized"],
                                                tmp_path / name)
    xr.testing.assert_identical(*(o.drop_vars("train_seconds") for o in out.values()))
    models = sorted(p.name for p in (tmp_path / "dask" / "models").iterdir())
    assert models == sorted(p.name for p in (tmp_path / "processes" / "models").iterdir())
    for m in models:
        one = torch.load(tmp_path / "processes" / "models" / m / "model.pt", weights_only=True)
        two = torch.load(tmp_path / "dask" / "models" / m / "model.pt", weights_only=True)
        assert all(torch.equal(one[k], two[k]) for k in one), m


@pytest.mark.slow
def test_a_fit_whose_worker_dies_is_rerun_and_resumes_from_its_checkpoint(
        local_cluster, tiny_scans, tmp_path, monkeypatch):
    """The worker training seed 1 dies after its first epoch; the scheduler reruns
    the job on a new worker, which resumes from the checkpoint and ends with the
    weights of an uninterrupted fit. Every model is trained once and kept once."""
    killed, attempts = tmp_path / "killed", tmp_path / "attempts"

    def job(seed):
        resuming = any((tmp_path / "dask" / "models").glob("*/checkpoint.pt"))
        with attempts.open("a") as f:
            f.write(f"{seed}:{resuming}\n")
        if seed == 1 and not killed.exists():
            save = train._save

            def save_then_die(*args, **kwargs):
                save(*args, **kwargs)
                killed.touch()
                os._exit(1)

            train._save = save_then_die
        fit = static.fit_variant(tiny_scans, "smoke", "gaussian", seed, tmp_path / "dask",
                                 show_progress=False)
        return fit.folder.name, int(fit.history.sizes["epoch"])

    monkeypatch.setenv(cluster.ENV, local_cluster)
    out = parallel.run_jobs(job, [(1,), (2,)], show_progress=False)
    assert killed.exists()
    tries = attempts.read_text().split()
    assert tries.count("1:False") == 1 and tries.count("1:True") == 1  # the rerun resumed

    monkeypatch.setenv(cluster.ENV, "processes")
    alone = static.fit_variant(tiny_scans, "smoke", "gaussian", 1, tmp_path / "alone",
                               show_progress=False)
    assert out[0] == (alone.folder.name, int(alone.history.sizes["epoch"]))
    assert sorted(p.name for p in (tmp_path / "dask" / "models").iterdir()) == sorted(
        name for name, _ in out)
    one = torch.load(tmp_path / "dask" / "models" / out[0][0] / "model.pt", weights_only=True)
    two = torch.load(alone.folder / "model.pt", weights_only=True)
    assert all(torch.equal(one[k], two[k]) for k in one)
    assert not (tmp_path / "dask" / "models" / out[0][0] / "checkpoint.pt").exists()


@pytest.mark.slow
def test_a_failing_job_raises_its_own_error_in_the_caller(local_cluster, monkeypatch):
    monkeypatch.setenv(cluster.ENV, local_cluster)

    def job(k):
        if k == 2:
            raise ValueError(f"bad job {k}")
        return k

    with pytest.raises(ValueError, match="bad job 2"):
        parallel.run_jobs(job, [(k,) for k in range(4)], show_progress=False)
    assert parallel.run_jobs(lambda k: k * 10, [(1,), (2,)], show_progress=False) == [10, 20]


def test_the_book_command_hands_its_executor_to_the_chapters(monkeypatch):
    from v1lib import book, cli

    seen = {}
    monkeypatch.setattr(book, "run", lambda **kw: seen.update(executor=os.environ[cluster.ENV]))
    monkeypatch.setenv(cluster.ENV, "processes")  # restored after the test
    assert cli.main(["book", "--profile", "smoke", "--no-html", "--executor", "dask:3"]) == 0
    assert seen == {"executor": "dask:3"}
