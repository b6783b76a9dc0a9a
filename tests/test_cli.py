"""The command line runs the same functions as the notebooks."""

import subprocess
import sys

import yaml

from v1lib.data import load_scans

from .conftest import ROOT, TINY


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
