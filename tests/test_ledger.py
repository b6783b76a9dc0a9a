"""The book's ledger: verdict rules, what chapters record, and the closing
chapter's tables read back from it."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from v1lib import ledger  # noqa: E402
from v1lib.stats import Interval, t_interval  # noqa: E402
from v1lib.studies import common_ground as cg  # noqa: E402
from v1lib.studies import task_similarity as ts  # noqa: E402


def iv(mean, lo, hi, n=4):
    return Interval(mean, lo, hi, n)


@pytest.mark.parametrize("interval, reported, expected", [
    (iv(20, 5, 35), 33, ledger.REPRODUCED),  # resolved, same direction
    (iv(80, 60, 100), 33, ledger.REPRODUCED),  # larger than reported: still the effect
    (iv(-20, -35, -5), 33, ledger.NOT_REPRODUCED),  # resolved, opposite direction
    (iv(2, -5, 9), 33, ledger.NOT_REPRODUCED),  # excludes the reported gain, not 0
    (iv(10, -5, 40), 33, ledger.UNTESTABLE),  # contains both 0 and the reported gain
    (Interval(10, float("nan"), float("nan"), 1), 33, ledger.UNTESTABLE),  # one replicate
])
def test_change_claim_verdicts(interval, reported, expected):
    c = ledger.change_claim("lurz", "a gain", interval, reported, " %")
    assert c.verdict == expected
    assert c.published == "+33 %" and "(4 animals)" in c.ours or interval.n == 1


def test_range_and_direction_claims():
    assert ledger.range_claim("sinz", "x", iv(50, 45, 55), 40, 48).verdict == ledger.REPRODUCED
    below = ledger.range_claim("sinz", "x", iv(30, 25, 35), 40, 48)
    assert below.verdict == ledger.NOT_REPRODUCED and "below" in below.why
    one = ledger.range_claim("sinz", "x", Interval(44, np.nan, np.nan, 1), 40, 48)
    assert one.verdict == ledger.UNTESTABLE and one.ours.endswith("(1 animal)")
    wide = ledger.range_claim("sinz", "x", iv(44, 10, 80), 40, 48)  # overlaps, but says nothing
    assert wide.verdict == ledger.UNTESTABLE and "too few" in wide.why
    assert ledger.direction_claim("sinz", "x", iv(-0.1, -0.2, -0.05), -1).verdict == \
        ledger.REPRODUCED
    assert ledger.direction_claim("sinz", "x", iv(0.1, 0.05, 0.2), -1).verdict == \
        ledger.NOT_REPRODUCED
    assert ledger.direction_claim("sinz", "x", iv(0.1, -0.05, 0.2), -1).verdict == \
        ledger.UNTESTABLE


def study():
    """A study's results as the chapters' sweeps return them: (variant, animal, seed)."""
    rng = np.random.default_rng(0)
    shape = (2, 3, 2)
    ds = xr.Dataset({k: (("variant", "animal", "seed"), rng.uniform(0.4, 0.8, shape))
                     for k in ("gt_ceiling_fraction", "gt_observable_ceiling_fraction")},
                    coords={"variant": ["a", "b"], "animal": ["m1", "m2", "m3"], "seed": [0, 1]})
    ds["parameters"] = (("variant", "animal", "seed"), np.full(shape, 1000.0))
    ds["train_seconds"] = (("variant", "animal", "seed"), np.full(shape, 30.0))
    return ds


def test_model_rows_average_seeds_within_animals():
    ds = study()
    rows = ledger.model_rows(ds, "xu", "some/where/mine.nc", {"a": "model A", "z": "absent"})
    assert [r["model"] for r in rows] == ["model A"]  # a label the study lacks is skipped
    per_animal = ds.gt_ceiling_fraction.sel(variant="a").mean("seed").values
    expect = t_interval(per_animal)
    r = rows[0]
    assert r["replicates"] == 3 and r["unit"] == "animals"
    assert np.isclose(r["fraction_true"], expect.mean) and np.isclose(r["fraction_true_lo"],
                                                                       expect.lo)
    assert r["parameters"] == 1000 and r["train_seconds"] == 30


def test_record_and_read_round_trip(tmp_path):
    ds = study()
    models = ledger.model_rows(ds, "xu", "sim", {"a": "model A", "b": "model B"})
    claims = [ledger.change_claim("xu", "b beats a", iv(0.1, 0.02, 0.18), 0.05)]
    ledger.record("07_freely_moving", "smoke", models, claims, results_dir=tmp_path)
    ledger.record("02_readouts", "smoke", models[:1], [], results_dir=tmp_path)
    book = ledger.read("smoke", tmp_path)
    assert book.chapters == ["02_readouts", "07_freely_moving"]
    assert list(book.models.model) == ["model A", "model A", "model B"]
    assert book.claims.verdict.tolist() == [ledger.REPRODUCED]
    assert ledger.read("cpu", tmp_path).models.empty  # another profile's ledger is apart
    with xr.open_dataset(next((tmp_path / "ledger" / "smoke").glob("07*.nc")),
                         engine="h5netcdf") as nc:
        assert "git_commit" in nc.attrs and nc.attrs["chapter"] == "07_freely_moving"
    # the closing chapter's tables and figures
    table = cg.model_table(book)
    assert table.loc[("07", "model B"), "replicates"] == "3 animals"
    assert "[" in table.loc[("07", "model B"), "fraction of true ceiling"]
    counts = cg.verdict_counts(book)
    assert counts.loc["Xu et al. 2023", ledger.REPRODUCED] == 1 and counts.values.sum() == 1
    assert "03_core_transfer" in cg.missing(book)
    assert "1 reproduced" in cg.summary_text(book)
    for draw in (cg.ceiling_figure, cg.cost_figure, cg.verdict_figure):
        draw(book)
    plt.close("all")


def test_record_refuses_bad_rows(tmp_path):
    rows = ledger.model_rows(study(), "xu", "sim", {"a": "A"})
    with pytest.raises(ValueError, match="unknown paper"):
        ledger.record("x", "smoke", [{**rows[0], "paper": "nature"}], [], tmp_path)
    with pytest.raises(ValueError, match="lack"):
        ledger.record("x", "smoke", [{"model": "A", "paper": "xu"}], [], tmp_path)
    bad = ledger.Claim("xu", "c", "1", "2", "maybe", "")
    with pytest.raises(ValueError, match="unknown verdict"):
        ledger.record("x", "smoke", [], [bad], tmp_path)
    assert not (tmp_path / "ledger" / "smoke").exists() or not list(
        (tmp_path / "ledger" / "smoke").iterdir())


def test_unreadable_ledger_file_is_named(tmp_path):
    folder = tmp_path / "ledger" / "smoke"
    folder.mkdir(parents=True)
    (folder / "04_predicting_video.nc").write_text("not netcdf")
    with pytest.raises(ValueError, match="04_predicting_video.nc"):
        ledger.read("smoke", tmp_path)


def test_empty_ledger_reads_and_draws(tmp_path):
    book = ledger.read("smoke", tmp_path)
    assert book.models.empty and book.claims.empty and cg.missing(book) == list(cg.RECORDING)
    assert "No chapter" in cg.summary_text(book)
    assert cg.model_table(book).empty and cg.claims_table(book).empty
    for draw in (cg.ceiling_figure, cg.cost_figure, cg.verdict_figure):
        draw(book)
    plt.close("all")


def test_task_records_judge_only_learned_networks():
    """Chapter 9: a network not resolved above chance makes the accuracy claim
    untestable; learned ones give a ratio judged against the paper's."""
    def results(acc_m, acc_v):
        out = {}
        for key, name, acc in (("mousenet", "MouseNet", acc_m), ("vgg", "VGG-style", acc_v)):
            out[key] = xr.Dataset(
                {"similarity": (("instance", "epoch", "population"),
                                np.full((3, 2, 2), 0.3)),
                 "accuracy": (("instance", "epoch"), np.stack([np.full(3, 0.1), acc], 1)),
                 "truth": 0.9, "ceiling_spearman_brown": 0.8},
                coords={"population": ["p1", "p2"], "epoch": [0, 8]},
                attrs={"network": name, "n_parameters": 10, "train_seconds": 5.0})
        return out

    chance = 1 / 12
    models, claims = ts.ledger_entries(results(np.array([0.08, 0.09, 0.07]),
                                                     np.array([0.5, 0.55, 0.6])), "objects",
                                             chance)
    assert claims[0].verdict == ledger.UNTESTABLE and "MouseNet" in claims[0].why
    assert np.isclose(models[0]["fraction_true"], 0.3 / 0.9)
    assert np.isclose(models[0]["fraction_observable"], 0.3 / 0.8)
    _, claims = ts.ledger_entries(results(np.array([0.30, 0.32, 0.31]),
                                                np.array([0.5, 0.52, 0.51])), "objects", chance)
    assert claims[0].verdict == ledger.REPRODUCED  # ratio about 0.54: below 1, as reported


def test_tuning_claims_set_each_model_against_the_papers_range():
    import pandas as pd

    from v1lib.studies import video_tuning as vt

    table = pd.DataFrame({"animal": ["m1", "m2", "m3", "m1", "m2", "m3"],
                          "variant": ["full"] * 3 + ["full_noise"] * 3,
                          "SD model - measured": [0.34, 0.36, 0.35, 0.40, 0.42, 0.41]})
    models, claims = vt.ledger_entries(table)
    assert models == [] and [c.verdict for c in claims] == [ledger.REPRODUCED,
                                                            ledger.NOT_REPRODUCED]
    assert claims[0].published == "0.318–0.392 rad" and "above" in claims[1].why


def test_readout_claim_pairs_animals_and_refuses_a_negative_reference():
    from v1lib.studies import readouts

    fo = np.array([[0.60, 0.62, 0.64], [0.50, 0.52, 0.55]])  # gaussian, factorized
    comp = xr.Dataset({"fraction_oracle": (("variant", "animal"), fo),
                       "gt_ceiling_fraction": (("variant", "animal"), fo * 0.9),
                       "epochs": (("variant", "animal"), np.full((2, 3), 10.0))},
                      coords={"variant": ["gaussian", "factorized"], "animal": ["a", "b", "c"]})
    models, claims = readouts.ledger_entries(comp, "recordings/mouse1/scans.nc")
    assert [m["data"] for m in models] == ["scans.nc"] * 2  # no folder of the user's
    assert claims[0].verdict == ledger.REPRODUCED  # +17 % resolved, the paper's +7 % direction
    comp["fraction_oracle"][1, 0] = -0.1
    assert readouts.ledger_entries(comp, "x")[1][0].verdict == ledger.UNTESTABLE


def test_the_closing_chapter_runs_again_when_a_chapter_records_anew(tmp_path):
    from v1lib import book, profiles

    root = book.paths.repo_root()
    chapters = {c.name: c for c in book.chapters(root)}
    params = {"profile": "smoke", "results_dir": str(tmp_path)}
    prof = profiles.load("smoke")["path"]
    key = lambda name: book.cache_key(chapters[name], params, root, prof)
    before = {n: key(n) for n in ("11_common_ground", "02_readouts")}
    ledger.record("02_readouts", "smoke", ledger.model_rows(study(), "lurz", "sim", {"a": "A"}),
                  [], results_dir=tmp_path)
    assert key("11_common_ground") != before["11_common_ground"]
    assert key("02_readouts") == before["02_readouts"]  # a recording chapter does not read it


def test_costs_leave_out_a_frozen_core_whether_trained_now_or_reloaded(tmp_path):
    import json
    from types import SimpleNamespace

    import torch.nn as nn

    from v1lib.model_cache import costs

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.core, self.readout = nn.Linear(4, 4), nn.Linear(4, 2)

        def n_parameters(self):
            return sum(p.numel() for p in self.parameters() if p.requires_grad)

    history = xr.Dataset({"seconds": ("epoch", [1.0, 2.5])})
    (tmp_path / "config.json").write_text(json.dumps({"train": {"freeze_core": True}}))
    reloaded = SimpleNamespace(model=Model(), history=history, folder=tmp_path)
    trained = SimpleNamespace(model=Model(), history=history, folder=tmp_path)
    trained.model.core.requires_grad_(False)  # as fit leaves it
    assert costs(reloaded) == costs(trained) == {"parameters": 10, "train_seconds": 2.5}
    (tmp_path / "config.json").write_text(json.dumps({"train": {"freeze_core": False}}))
    assert costs(reloaded)["parameters"] == 30
    assert costs(SimpleNamespace(model=Model(), history=xr.Dataset(), folder=tmp_path)) == {
        "parameters": 30, "train_seconds": 0.0}
