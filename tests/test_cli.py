"""The command line runs the same functions as the notebooks."""

import subprocess
import sys

import numpy as np
import pytest
import yaml

from v1lib.data import load_scans

from .conftest import ROOT, TINY

pytestmark = pytest.mark.slow  # each test starts python -m v1lib (seconds)


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "v1lib", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_simulate_static(tmp_path):
    cfg = tmp_path / "sim.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "sim.nc"
    proc = cli("simulate", "static", "--seed", "3", "--config", str(cfg), "--out", str(out),
               "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "2 scans, 120 neurons" in proc.stdout
    scans = load_scans(out)
    ds = scans["insilico-3-1"]
    assert ds.attrs["seed"] == 3 and ds.attrs["config_hash"]


def test_simulate_rejects_bad_config(tmp_path):
    cfg = tmp_path / "sim.yaml"
    cfg.write_text("n_animal: 2\n")
    proc = cli("simulate", "static", "--seed", "1", "--config", str(cfg), "--out",
               str(tmp_path / "x.nc"))
    assert proc.returncode != 0 and "unknown option 'n_animal'" in proc.stderr
    assert not (tmp_path / "x.nc").exists()
    proc = cli("simulate", "static", "--seed", "1", "--config", str(tmp_path / "none.yaml"),
               "--out", str(tmp_path / "x.nc"))
    assert proc.returncode != 0 and "none.yaml: no such file" in proc.stderr


def test_book_unknown_profile():
    proc = cli("book", "--profile", "turbo", "--no-html")
    assert proc.returncode == 1 and "unknown profile 'turbo'" in proc.stderr


def _write_tiny(tmp_path, tiny_scans):
    from v1lib.data import save_scans

    path = tmp_path / "tiny.nc"
    save_scans(tiny_scans, path)
    return path


def test_fit_on_simulated_data_writes_metrics_predictions_and_checkpoint(tmp_path, tiny_scans):
    import json

    import xarray as xr

    data = _write_tiny(tmp_path, tiny_scans)
    out = tmp_path / "run"
    proc = cli("fit", "--data", str(data), "--model", "gaussian", "--shifter", "--modulator",
               "--profile", "smoke", "--seed", "1", "--out", str(out), "--quiet",
               "--results-dir", str(tmp_path / "results"))
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "metrics.json").read_text())
    for k in ("single_trial_corr", "corr_to_avg", "feve", "fraction_oracle", "gt_ceiling_fraction"):
        assert np.isfinite(m[k]), k
    assert (out / "model.pt").is_file() and (out / "config.json").is_file()
    for scan, ds in tiny_scans.items():
        p = xr.open_dataset(out / "predictions.nc", group=scan, engine="h5netcdf")
        n_test = int((ds.tier == "test").sum())
        assert p.predictions.shape == (n_test, ds.sizes["neuron"])
        assert (p.predictions >= 0).all() and "single_trial_corr" in p
        p.close()
    # the same command again reloads the trained model instead of training
    again = cli("fit", "--data", str(data), "--model", "gaussian", "--shifter", "--modulator",
                "--profile", "smoke", "--seed", "1", "--out", str(out), "--quiet")
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "metrics.json").read_text())["single_trial_corr"] == m["single_trial_corr"]


def test_fit_on_a_sensorium_folder(tmp_path, tiny_scans):
    import json

    from v1lib.data.sensorium import write_sensorium_folder

    ds = next(iter(tiny_scans.values()))
    folder = write_sensorium_folder(ds, tmp_path / "static1-2-3-GrayImageNet-0")
    out = tmp_path / "run"
    proc = cli("fit", "--data", str(folder), "--model", "factorized", "--profile", "smoke",
               "--seed", "2", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert np.isfinite(m["single_trial_corr"]) and "gt_ceiling_fraction" not in m


def test_fit_errors_name_the_option(tmp_path, tiny_scans):
    data = _write_tiny(tmp_path, tiny_scans)
    proc = cli("fit", "--data", str(data), "--model", "gauss", "--profile", "smoke", "--seed", "1",
               "--out", str(tmp_path / "x"))
    assert proc.returncode == 2 and "invalid choice: 'gauss'" in proc.stderr
    proc = cli("fit", "--data", str(data), "--model", "factorized", "--shifter", "--profile",
               "smoke", "--seed", "1", "--out", str(tmp_path / "x"))
    assert proc.returncode == 1 and "factorized readout has no position" in proc.stderr
    proc = cli("fit", "--data", "no-such-dataset", "--model", "point", "--profile", "smoke",
               "--seed", "1", "--out", str(tmp_path / "x"))
    assert proc.returncode == 1 and "unknown dataset 'no-such-dataset'" in proc.stderr
    assert not (tmp_path / "x").exists()
