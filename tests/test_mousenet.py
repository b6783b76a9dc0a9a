"""MouseNet (Shi et al. 2022) built from anatomical tables: the paper's network
layer by layer, its fixed sparse masks, the scaled-down networks the book
trains, and the errors of bad options and bad tables."""

import dataclasses

import matplotlib
import pytest
import torch
import yaml

from v1lib.anatomy import TABLES, architecture, load_tables
from v1lib.models.mousenet import MouseNet, MouseNetConfig, draw_mask
from v1lib.objectives import CrossEntropy
from v1lib.tensors import ScanTensors
from v1lib.train import TrainConfig, fit

matplotlib.use("Agg")

LAYERS = ("4", "2/3", "5")
HIGHER = ["VISl", "VISrl", "VISli", "VISpl", "VISal", "VISpor"]
# the paper's network (Shi et al. 2022; reference notes section 2.5)
CHANNELS = {"LGNd": 5, "VISp4": 26, "VISp2/3": 42, "VISp5": 32,
            **{a + layer: c for a, cs in zip(HIGHER, [(15, 21, 20), (14, 22, 18), (5, 9, 11),
                                                      (3, 17, 19), (9, 15, 15), (5, 29, 29)])
               for layer, c in zip(LAYERS, cs)}}
FROM_VISP = {"4": ([19, 19, 19, 19, 17, 17], ".0297 .0320 .0319 .0321 .0390 .0133",
                   "9.73 9.53 9.22 9.03 8.61 8.60"),
             "2/3": ([19, 21, 17, 17, 15, 19], ".0384 .0319 .0452 .0474 .0625 .0127",
                     "9.61 10.01 8.95 8.38 7.85 9.07"),
             "5": ([19, 19, 19, 17, 15, 19], ".0422 .0417 .0429 .0534 .0642 .0159",
                   "9.80 9.79 9.88 8.75 7.52 9.38")}
WITHIN = {"4": ([9, 11, 17, 19, 13, 13], "4.78 5.68 8.06 9.40 6.53 6.63"),
          "2/3": ([5, 5, 7, 5, 5, 3], "2.14 2.43 3.13 2.52 2.77 1.74")}
TO_VISPOR = {"VISl": ([15, 15, 15], ".0136 .0161 .0189", "7.02 7.12 7.47"),
             "VISrl": ([7, 9, 9], ".0743 .0635 .0641", "3.96 4.04 4.38"),
             "VISli": ([17, 17, 15], ".0174 .0219 .0282", "8.98 8.37 7.58"),
             "VISpl": ([3, 5, 5], ".1897 .0535 .0786", "1.50 2.37 2.14"),
             "VISal": ([3, 1, 1], ".5511 4.36 4.21", "1.78 0.61 0.69")}
SMALL = MouseNetConfig(width=0.25, input_size=32, classes=2)


def paper_edges() -> dict:
    """(source, target) -> kernel, stride, peak, sigma_px; numbers as printed."""
    e = {("input", "LGNd"): (9, 1, "1", "4"), ("LGNd", "VISp4"): (3, 1, "1", "1"),
         ("VISp4", "VISp2/3"): (9, 1, ".1618", "4.33"), ("VISp2/3", "VISp5"): (3, 1, ".1673", "1.87")}
    for layer, (ks, ps, ss) in FROM_VISP.items():
        for a, k, p, s in zip(HIGHER, ks, ps.split(), ss.split()):
            e["VISp" + layer, a + "4"] = (k, 2, p, s)
    for (src, tgt, p), (ks, ss) in zip([("4", "2/3", ".1618"), ("2/3", "5", ".1673")],
                                       WITHIN.values()):
        for a, k, s in zip(HIGHER, ks, ss.split()):
            e[a + src, a + tgt] = (k, 1, p, s)
    for a, (ks, ps, ss) in TO_VISPOR.items():
        for layer, k, p, s in zip(LAYERS, ks, ps.split(), ss.split()):
            e[a + layer, "VISpor4"] = (k, 1, p, s)
    return e


def close_to_printed(x: float, printed: str) -> bool:
    """Within 1e-3 relative, or within the rounding of the printed digits."""
    digits = len(printed.split(".")[1]) if "." in printed else 0
    v = float(printed)
    return abs(x - v) <= max(1e-3 * abs(v), 0.5 * 10**-digits + 1e-9)


def test_the_paper_network_is_built_from_the_tables():
    arch = architecture(1.0, 64, 3)
    assert len(arch.populations) == 22 and len(arch.projections) == 49
    assert {p.name: p.channels for p in arch.populations} == CHANNELS
    assert {p.name: p.grid for p in arch.populations} == {
        n: 64 if n == "LGNd" or n.startswith("VISp") and n[4] in "425" else 32 for n in CHANNELS}
    assert arch.outputs == ("VISp5", "VISl5", "VISrl5", "VISli5", "VISpl5", "VISal5", "VISpor5")
    expected = paper_edges()
    got = {(q.source, q.target): q for q in arch.projections}
    assert set(got) == set(expected)
    for edge, (k, s, p, sigma) in expected.items():
        q = got[edge]
        assert (q.kernel, q.stride) == (k, s), edge
        assert close_to_printed(q.peak, p) and close_to_printed(q.sigma_px, sigma), (edge, q)
        assert q.dense == (edge[0] in ("input", "LGNd"))
    # feedforward, in topological order: every source comes before its target
    order = ["input"] + [p.name for p in arch.populations]
    assert all(order.index(q.source) < order.index(q.target) for q in arch.projections)
    assert [q.source for q in arch.inputs_of("VISpor4")][:4] == ["VISp4", "VISp2/3", "VISp5",
                                                                 "VISl4"]


def test_the_paper_network_has_its_published_parameter_count():
    model = MouseNet(MouseNetConfig(in_channels=3, classes=1000))
    count = lambda ps: sum(p.numel() for p in ps)
    assert count(c.weight for c in model.convs) == 2_151_649
    assert count(c.bias for c in model.convs) == 558
    assert count(model.norms.parameters()) == 762
    assert count(model.classifier.parameters()) == 2_305_000
    assert model.n_parameters() == 4_457_969


def test_stride_two_padding_halves_the_grid_exactly():
    for size in (8, 16, 32, 48, 64):
        arch = architecture(1.0, size, 1)
        for q in arch.projections:
            src = size if q.source == "input" else arch.population(q.source).grid
            left, right, top, bottom = q.padding
            out = (src + left + right - q.kernel) // q.stride + 1
            assert out == arch.population(q.target).grid and (left, right) == (top, bottom), q
            if q.stride == 2:
                assert src == 2 * arch.population(q.target).grid and right == left + (q.kernel > 1)


def test_width_scales_channels_not_kernels_and_keeps_the_expected_inputs():
    paper, half = architecture(1.0), architecture(0.5)
    tables = load_tables()
    for p, h in zip(paper.populations, half.populations):
        grid = 64 if p.grid == 64 else 32
        assert h.channels == max(1, int(0.5 * p.neurons / grid**2)) and h.grid == p.grid
    for q, r in zip(paper.projections, half.projections):
        assert (q.kernel, q.sigma_px) == (r.kernel, r.sigma_px)
        if paper.population(q.target).layer == "4" and not q.dense and r.peak < 1 / 1.01:
            e = tables.get(f"interareal.targets.{q.target}.{q.source}.in_degree")
            assert half.expected_inputs(r) == pytest.approx(e, rel=1e-9)
            assert r.peak == pytest.approx(q.peak * paper.channels(q.source)
                                           / half.channels(q.source))
    # input_size scales grids and mask widths; kernels follow the scaled widths
    small = architecture(1.0, 32)
    for q, r in zip(paper.projections, small.projections):
        assert r.sigma_px == pytest.approx(q.sigma_px / 2) and r.kernel == 2 * int(r.sigma_px) + 1
    assert [p.grid for p in small.populations] == [p.grid // 2 for p in paper.populations]


def test_masks_are_fixed_by_their_seed_and_not_trained():
    torch.manual_seed(0)
    a = MouseNet(SMALL)
    torch.manual_seed(1)
    b = MouseNet(SMALL)
    c = MouseNet(dataclasses.replace(SMALL, mask_seed=7))
    masks = lambda m: [conv.mask for conv in m.convs]
    assert all(torch.equal(x, y) for x, y in zip(masks(a), masks(b)))
    assert not all(torch.equal(x, y) for x, y in zip(masks(a), masks(c)))
    names = dict(a.named_parameters())
    assert "convs.2.mask" in a.state_dict() and not any(n.endswith("mask") for n in names)
    assert not any(m.requires_grad for m in masks(a))
    # the two LGN projections are dense; a peak above 1 saturates
    arch = a.arch
    assert all(bool(a.convs[i].mask.all()) == (q.dense or q.probability().min() == 1)
               for i, q in enumerate(arch.projections))


def test_mask_density_is_the_mean_connection_probability():
    arch = architecture()
    q = next(q for q in arch.projections if (q.source, q.target) == ("VISp2/3", "VISl4"))
    mask = draw_mask(q, 42, 15, seed=3)
    assert mask.shape == (15, 42, 19, 19) and set(mask.unique().tolist()) == {0.0, 1.0}
    p = q.probability()
    se = (p * (1 - p)).sum() ** 0.5 / p.size / (42 * 15) ** 0.5
    assert abs(float(mask.mean()) - p.mean()) < 4 * se
    # the profile too: the centre (3 x 3) and the four corners (3 x 3 each) at their rates
    for rows, cols in [(slice(8, 11), slice(8, 11)), ([0, 1, 2, 16, 17, 18], [0, 1, 2, 16, 17, 18])]:
        rate, want = mask[:, :, rows][:, :, :, cols].mean(), p[rows][:, cols].mean()
        n = 42 * 15 * (9 if isinstance(rows, slice) else 36)
        assert abs(float(rate) - want) < 4 * (want * (1 - want) / n) ** 0.5, (rate, want)
    assert p[9, 9] == pytest.approx(q.peak) and p[0, 0] < 0.45 * q.peak
    saturated = next(q for q in arch.projections if q.peak > 1)
    assert bool(draw_mask(saturated, 15, 5, seed=0).all())


@pytest.mark.parametrize("size", [32, 64])
def test_forward_shapes_and_population_maps(size):
    torch.manual_seed(0)
    model = MouseNet(MouseNetConfig(width=0.25, input_size=size))
    x = torch.randn(3, 1, size, size)
    assert model("task", x).shape == (3, 10)
    acts = model.populations(x)
    assert list(acts) == [p.name for p in model.arch.populations]
    for p in model.arch.populations:
        assert acts[p.name].shape == (3, p.channels, p.grid, p.grid)
        assert p.grid == (size if p.area in ("LGNd", "VISp") else size // 2)
    assert model.features(x).shape == (3, 4 * 4 * sum(acts[o].shape[1] for o in model.arch.outputs))
    assert model.regularizer("task").item() == 0 and model.clamp_() is None


def test_populations_computes_only_what_it_needs():
    model = MouseNet(SMALL).eval()
    calls = []
    for name, norm in model.norms.items():
        norm.register_forward_hook(lambda *_, n=name: calls.append(n))
    out = model.populations(torch.randn(2, 1, 32, 32), ["VISp4"])
    assert list(out) == ["VISp4"] and calls == ["LGNd", "VISp4"]
    with pytest.raises(ValueError, match="no population 'VISp6'"):
        model.populations(torch.randn(2, 1, 32, 32), ["VISp6"])


def test_bad_options_are_refused_by_name():
    model = MouseNet(SMALL)
    with pytest.raises(ValueError, match=r"stimuli of \(B, 1, 32, 32\).*input_size.*\(2, 1, 64, 64\)"):
        model("task", torch.randn(2, 1, 64, 64))
    with pytest.raises(ValueError, match="option 'width' must be a positive number, got 0"):
        architecture(width=0)
    with pytest.raises(ValueError, match="option 'input_size' must give whole grids.*multiple of 2"):
        architecture(input_size=33)
    with pytest.raises(ValueError, match="my.yaml: option 'width' must be a positive number"):
        MouseNetConfig.from_dict({"width": -1.0}, "my.yaml")
    with pytest.raises(ValueError, match=r"my.yaml: unknown option\(s\) \['depth'\]"):
        MouseNetConfig.from_dict({"depth": 3}, "my.yaml")
    with pytest.raises(ValueError, match="my.yaml: input_size: expected an integer"):
        MouseNetConfig.from_dict({"input_size": 31.5}, "my.yaml")
    cfg = MouseNetConfig.from_dict({"width": 0.5, "input_size": 48}, "my.yaml")
    assert cfg.architecture().population("VISl4").grid == 24


@pytest.mark.parametrize("drop", ["interareal.targets.VISl4.VISp5", "neurons.VISli",
                                  "surface_area_mm2.VISal.4", "lgn.source"])
def test_a_table_missing_a_key_is_refused_naming_the_file_and_key(tmp_path, drop):
    tables = yaml.safe_load(TABLES.read_text())
    *path, last = drop.split(".")
    node = tables
    for part in path:
        node = node[part]
    del node[last]
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(tables))
    with pytest.raises(ValueError, match=f"{broken}: missing key '{drop}'"):
        load_tables(broken)
    with pytest.raises(ValueError, match="missing key"):
        architecture(tables=broken)


def test_a_malformed_table_is_refused_naming_the_file_and_key(tmp_path):
    tables = yaml.safe_load(TABLES.read_text())
    tables["connection_probability_75um"]["p"][1] = [0.14, 0.243]
    broken = tmp_path / "short_row.yaml"
    broken.write_text(yaml.safe_dump(tables))
    with pytest.raises(ValueError, match="short_row.yaml: 'connection_probability_75um.p' must be a 4 x 4"):
        load_tables(broken)
    tables = yaml.safe_load(TABLES.read_text())
    tables["neurons"]["VISp"]["4"] = "many"
    broken.write_text(yaml.safe_dump(tables))
    with pytest.raises(ValueError, match="'neurons.VISp.4' must be an integer, got 'many'"):
        load_tables(broken)
    assert architecture(tables=load_tables()) == architecture()


def _bars(samples: int, size: int = 32, seed: int = 0):
    """Stimuli with a horizontal (class 0) or a vertical (class 1) bar in noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (samples,), generator=g)
    x = 0.3 * torch.randn(samples, 1, size, size, generator=g)
    pos = torch.randint(4, size - 4, (samples,), generator=g)
    for i in range(samples):
        if labels[i] == 0:
            x[i, 0, pos[i] - 1:pos[i] + 2, :] += 1.0
        else:
            x[i, 0, :, pos[i] - 1:pos[i] + 2] += 1.0
    return x, labels


def test_a_small_mousenet_trains_through_fit():
    x, labels = _bars(96)
    idx = torch.arange(96)
    data = {"task": ScanTensors({"stimulus": x}, labels,
                                {"train": idx[:64], "validation": idx[64:80], "test": idx[80:]})}
    torch.manual_seed(0)
    model = MouseNet(SMALL)
    config = TrainConfig(batch_size=16, lr=0.01, max_epochs=4, patience=10, lr_decay_steps=1)
    h = fit(model, data, config, 0, show_progress=False, objective=CrossEntropy())
    loss = h.train_loss.values
    assert len(loss) == 4 and loss[-1] < loss[0], loss


def test_the_graph_draws_one_arrow_per_projection():
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch

    from v1lib.plots import mousenet_graph

    arch = architecture()
    ax = mousenet_graph(arch)
    try:
        arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
        assert len(arrows) == len(arch.projections) == 49
        texts = [t.get_text() for t in ax.texts]
        assert "VISp2/3\n42 ch" in texts and "input\n3 ch" in texts and "level 3" in texts
        assert not ax.axison and "49 projections" in ax.get_title()
    finally:
        plt.close(ax.figure)


@pytest.mark.parametrize("size", [8, 16, 32])
def test_grouped_convolutions_equal_one_convolution_per_projection(size):
    torch.manual_seed(0)
    model = MouseNet(MouseNetConfig(width=0.25, input_size=size)).eval()
    x = torch.randn(2, 1, size, size)
    with torch.no_grad():
        acts = model.populations(x)
        ref = {"input": x}
        for p in model.arch.populations:
            s = sum(model.convs[i](ref[model.arch.projections[i].source])
                    for i in model._inputs[p.name])
            ref[p.name] = torch.relu(model.norms[p.name.replace("/", "")](s))
    assert max(len(g) for g in model._group) > 1
    for name, a in acts.items():
        torch.testing.assert_close(a, ref[name], rtol=1e-4, atol=1e-5)
