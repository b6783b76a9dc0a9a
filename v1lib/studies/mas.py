"""Maximally activating stimuli (MAS) of the multimodal model (Xu et al. 2023,
§4.1) and, on simulated sessions, their ground-truth counterpart.

The MAS of a neuron comes from gradient ascent on its prediction, jointly over
a head-camera frame and the behaviour vector (both repeated over the model's
history bins), from ``restarts`` random starts: Adam, an L2 penalty on the
frame's Laplacian (kernel [[0, -1, 0], [-1, 4, -1], [0, -1, 0]], valid
convolution), weight decay, and the learning rate cut by 5 after 20 steps
without improvement (each neuron on its own). The MAS is the mean over the
restarts, as in the paper. Frames are in the model's normalised units (grey
levels z-scored over the training frames), behaviour in z-scored units.

The true preferred stimulus is the same ascent (from the same starts for the
same ``seed``: a comparison should use another seed, or the shared starts
correlate the two by themselves) on the simulated neuron's visual drive
(:meth:`~v1lib.sim.population.Population.drive`, differentiable in torch), the
frame seen by an eye at a given position. The
neuron's rate rises monotonically with its drive at any behaviour, so the two
have the same maximiser; the drive's gradient does not vanish below the
neuron's threshold as the rate's does.

Coordinate frames: a simulated neuron reads the *retinal* image, the camera
frame shifted by the eye position (θ, φ over ``deg_per_px``; torsion, not
recorded, is left out); the model reads the camera frame and learns that shift
in its shifter. So the model's MAS, in camera coordinates, corresponds to the
true preferred stimulus seen through the eye position the MAS was computed at
(``behavior`` of :func:`true_preferred_stimulus`: the MAS's optimised
behaviour, or zeros, the session's mean eye position, for a MAS at mean
behaviour); with ``behavior=None`` the eye is at rest (θ = φ = 0: retinal =
camera coordinates).
"""

from __future__ import annotations

import functools
import json

import numpy as np
import torch
import torch.nn.functional as F
import xarray as xr

from ..data.session import BEHAVIOR_VARS
from ..tensors import HISTORY, scan_info

LAPLACE = torch.tensor([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]]).view(1, 1, 3, 3)
PLATEAU = {"patience": 20, "factor": 0.2, "min_lr": 1e-5}  # the paper's ReduceLROnPlateau


def laplace_norm(images: torch.Tensor) -> torch.Tensor:
    """The L2 norm (B,) of the Laplacian of images (B, H, W)."""
    return F.conv2d(images[:, None], LAPLACE.to(images.device)).flatten(1).norm(dim=1)


def initial_images(seed: int, neuron: int, restarts: int, shape: tuple[int, int]) -> torch.Tensor:
    """The starting frames (restarts, H, W) of one neuron: N(0, 1) in normalised
    units (the spread of the frames' pixels), from ``seed`` and the neuron."""
    rng = np.random.default_rng([int(seed), int(neuron)])
    return torch.as_tensor(rng.standard_normal((restarts, *shape)), dtype=torch.float32)


def _check(steps: int, restarts: int, lr: float, laplace_weight: float, weight_decay: float):
    for name, v in (("steps", steps), ("restarts", restarts)):
        if int(v) != v or v < 1:
            raise ValueError(f"'{name}' must be a positive integer, got {v}")
    if not lr > 0:
        raise ValueError(f"'lr' must be positive, got {lr}")
    for name, v in (("laplace_weight", laplace_weight), ("weight_decay", weight_decay)):
        if not v >= 0:
            raise ValueError(f"'{name}' must be non-negative, got {v}")


def ascend(objective, images: list[torch.Tensor], behavior: list[torch.Tensor] | None,
           steps: int, lr: float, laplace_weight: float, weight_decay: float) -> torch.Tensor:
    """Gradient ascent of ``objective(images, behavior) -> (K, R)`` for K neurons
    at once, each with its own optimiser (its frames (R, H, W) and behaviour (R,
    6), updated in place); returns the final objective (K, R)."""
    groups = [[x] + ([behavior[k]] if behavior is not None else []) for k, x in enumerate(images)]
    for g in groups:
        for p in g:
            p.requires_grad_(True)
    opts = [torch.optim.Adam(g, lr=lr, weight_decay=weight_decay) for g in groups]
    scheds = [torch.optim.lr_scheduler.ReduceLROnPlateau(o, **PLATEAU) for o in opts]
    params = [p for g in groups for p in g]
    for _ in range(steps):
        act = objective(images, behavior)
        smooth = torch.stack([laplace_norm(x).sum() for x in images])
        losses = -act.sum(1) + laplace_weight * smooth
        for p, g in zip(params, torch.autograd.grad(losses.sum(), params)):
            p.grad = g
        for o, s, loss in zip(opts, scheds, losses.detach().tolist()):
            o.step()
            s.step(loss)
    with torch.no_grad():
        return objective(images, behavior)


def _neuron_list(neurons, n: int | None) -> list[int]:
    out = [int(k) for k in np.atleast_1d(np.asarray(neurons))]
    bad = [k for k in out if k < 0 or (n is not None and k >= n)]
    if not out or bad:
        top = "N - 1" if n is None else n - 1
        raise ValueError(f"'neurons' must be positions of the session's neurons (0..{top}), "
                         f"got {bad or 'none'}")
    return out


def _model_objective(model, scan: str, neurons: list[int]):
    """The predictions (K, R) of neuron k for its frames (R, H, W) and behaviour
    (R, 6), both repeated over the history bins."""
    def objective(images, behavior):
        x = torch.stack(images)  # (K, R, H, W)
        K, R = x.shape[:2]
        stim = x.flatten(0, 1)[:, None, None].expand(-1, HISTORY, 1, -1, -1)
        beh = (torch.stack(behavior).flatten(0, 1) if behavior is not None
               else x.new_zeros(K * R, len(BEHAVIOR_VARS)))
        out = model(scan, stimulus=stim, behavior=beh[:, None].expand(-1, HISTORY, -1))
        idx = torch.as_tensor(neurons, device=out.device).view(K, 1, 1).expand(K, R, 1)
        return out.view(K, R, -1).gather(2, idx)[..., 0]
    return objective


def maximally_activating(model, scan: str, neurons, steps: int = 100, restarts: int = 16,
                         lr: float = 0.1, laplace_weight: float = 0.01,
                         weight_decay: float = 0.02, seed: int = 0, behavior: bool = True,
                         shape: tuple[int, int] = (60, 80), batch_neurons: int = 8
                         ) -> xr.Dataset:
    """The MAS of ``neurons`` (positions in the session): ``mas`` (neuron, y, x),
    the mean over restarts of the optimised frames, in normalised units;
    ``behavior`` (neuron, behavior_var), the mean optimised behaviour, z-scored
    (zeros with ``behavior=False``: the behaviour held at its mean and the frame
    alone optimised, the paper's Figure C1 up to its random fixed behaviour);
    ``activation``, the mean prediction of the final restarts, and
    ``activation_of_mean``, the prediction for the mean frame and behaviour.

    The model runs in eval mode, so dropout is off (the paper's ascent left the
    visual encoder's dropout on). Behaviour starts from N(0, 1) per restart
    (the paper starts at ones, which biases the result for variables a neuron
    ignores). ``shape``: the frame's height and width; ``batch_neurons``: the
    neurons optimised together (results do not depend on it)."""
    _check(steps, restarts, lr, laplace_weight, weight_decay)
    if int(batch_neurons) != batch_neurons or batch_neurons < 1:
        raise ValueError(f"'batch_neurons' must be a positive integer, got {batch_neurons}")
    norm = getattr(model, "normalizers", {})
    n = int(norm[scan].response_std.numel()) if scan in norm else None
    neurons = _neuron_list(neurons, n)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    parts = []
    try:
        for s in range(0, len(neurons), batch_neurons):
            chunk = neurons[s:s + batch_neurons]
            imgs = [initial_images(seed, k, restarts, shape).to(device) for k in chunk]
            rng = [np.random.default_rng([int(seed), k, 1]) for k in chunk]
            beh = ([torch.as_tensor(r.standard_normal((restarts, len(BEHAVIOR_VARS))),
                                    dtype=torch.float32, device=device) for r in rng]
                   if behavior else None)
            objective = _model_objective(model, scan, chunk)
            act = ascend(objective, imgs, beh, steps, lr, laplace_weight, weight_decay)
            with torch.no_grad():
                mean_img = [x.detach().mean(0, keepdim=True) for x in imgs]
                mean_beh = [b.detach().mean(0, keepdim=True) for b in beh] if behavior else None
                of_mean = objective(mean_img, mean_beh)[:, 0]
            parts.append((torch.cat(mean_img), torch.cat(mean_beh) if behavior else
                          torch.zeros(len(chunk), len(BEHAVIOR_VARS)), act.mean(1), of_mean))
    finally:
        model.train(was_training)
    img, beh, act, of_mean = (torch.cat([p[i].cpu() for p in parts]).numpy() for i in range(4))
    return xr.Dataset(
        {"mas": (("neuron", "y", "x"), img), "behavior": (("neuron", "behavior_var"), beh),
         "activation": ("neuron", act), "activation_of_mean": ("neuron", of_mean)},
        coords={"neuron": neurons, "y": np.arange(shape[0]), "x": np.arange(shape[1]),
                "behavior_var": list(BEHAVIOR_VARS)},
        attrs={"scan": scan, "steps": steps, "restarts": restarts, "lr": lr,
               "laplace_weight": laplace_weight, "weight_decay": weight_decay, "seed": seed,
               "behavior_optimised": int(bool(behavior)),
               "units": "frames: normalised (z-scored) grey levels; behaviour: z-scored"})


@functools.lru_cache(maxsize=2)
def _true_neurons(sim_config: str, seed: int, scan: str):
    from ..sim import freely_moving as fm

    config = fm.FreelyMovingConfig.from_dict(json.loads(sim_config))
    names = fm.scan_names(config, seed)
    if scan not in names:
        raise ValueError(f"session '{scan}' is not one of the simulation's sessions {names}")
    return config, fm.neurons(config, seed, names.index(scan), fm.make_arena(config, seed))


def true_neurons(ds: xr.Dataset):
    """The simulation's config and the true neurons (all simulated units) of a
    simulated session, rebuilt from its attributes."""
    if "sim_config" not in ds.attrs or "unit_id" not in ds.coords:
        raise ValueError(f"scan '{ds.attrs.get('scan', '')}' is not a simulated freely moving "
                         "session (no 'sim_config' or 'unit_id'): it has no true neurons")
    return _true_neurons(ds.attrs["sim_config"], int(ds.attrs["sim_seed"]), ds.attrs["scan"])


def _retinal_shift(config, ds: xr.Dataset, behavior, neurons: list[int]) -> np.ndarray:
    """The retinal shift (K, 2) [x, y] px of each neuron's eye position: at rest
    (None), or θ and φ of ``behavior`` (neuron, behavior_var; z-scored by the
    session's training bins)."""
    if behavior is None:
        return np.zeros((len(neurons), 2), dtype=np.float32)
    from ..sim.freely_moving import retinal_effects

    stats = scan_info(ds, np.flatnonzero(ds.tier.values == "train")).inputs["behavior"]
    try:
        z = behavior.sel(neuron=neurons, behavior_var=["eye_theta", "eye_phi"]).values
    except (KeyError, AttributeError) as e:
        raise ValueError("'behavior' must be a DataArray (neuron, behavior_var) holding the eye "
                         f"position of every neuron asked for, e.g. a MAS's 'behavior': {e}") from e
    col = [BEHAVIOR_VARS.index(v) for v in ("eye_theta", "eye_phi")]
    deg = z * np.asarray(stats.std)[col] + np.asarray(stats.mean)[col]
    return retinal_effects(config, deg[:, 0], deg[:, 1], np.zeros(len(neurons)))[0]


def true_preferred_stimulus(ds: xr.Dataset, neurons, steps: int = 100, restarts: int = 16,
                            lr: float = 0.1, laplace_weight: float = 0.01,
                            weight_decay: float = 0.02, seed: int = 0, behavior=None
                            ) -> xr.Dataset:
    """The true preferred stimulus of ``neurons`` (positions in the simulated
    session ``ds``): the ascent of :func:`maximally_activating` (the same
    starts for the same seed, penalty and steps) on each neuron's visual drive, the frame in the same
    normalised units (z-scored by the session's training frames) and seen
    through the eye position of ``behavior`` (module docstring; None: at rest).

    Returns ``preferred`` (neuron, y, x), the mean over restarts; ``drive``, the
    mean final drive, and ``drive_of_mean``, that of the mean frame;
    ``gain_weights`` (neuron, behavior_var), the true log-gain per SD of each
    variable in the session; coords: the neuron's ``unit_id``, whether it is
    ``visual``, its ``feature_type``, RF centre (``rf_x``, ``rf_y``, retinal px)
    and the retinal ``shift_x``, ``shift_y`` used. Costs 20-30 ms a frame
    and step on one CPU core (the simulator's filter bank)."""
    _check(steps, restarts, lr, laplace_weight, weight_decay)
    config, mn = true_neurons(ds)
    neurons = _neuron_list(neurons, ds.sizes["neuron"])
    stats = scan_info(ds, np.flatnonzero(ds.tier.values == "train")).inputs
    mean, std = float(stats["stimulus"].mean), float(stats["stimulus"].std)
    shift = _retinal_shift(config, ds, behavior, neurons)
    units = ds.unit_id.values[neurons]
    shape = (config.height, config.width)

    def objective(images, _):
        return torch.stack([mn.pop.drive(x * std + mean, float(shift[k, 0]), float(shift[k, 1]),
                                         neurons=[u])[:, 0]
                            for k, (x, u) in enumerate(zip(images, units))])

    imgs = [initial_images(seed, k, restarts, shape) for k in neurons]
    act = ascend(objective, imgs, None, steps, lr, laplace_weight, weight_decay)
    with torch.no_grad():
        mean_img = [x.detach().mean(0, keepdim=True) for x in imgs]
        of_mean = objective(mean_img, None)[:, 0]
    sel = ds.isel(neuron=neurons)
    gain = (sel.gt_gain_weights.values * np.asarray(stats["behavior"].std)
            / np.asarray(ds.attrs["gt_standard_scale"]))
    return xr.Dataset(
        {"preferred": (("neuron", "y", "x"), torch.cat(mean_img).numpy()),
         "drive": ("neuron", act.mean(1).numpy()), "drive_of_mean": ("neuron", of_mean.numpy()),
         "gain_weights": (("neuron", "behavior_var"), gain.astype(np.float32))},
        coords={"neuron": neurons, "y": np.arange(shape[0]), "x": np.arange(shape[1]),
                "behavior_var": list(BEHAVIOR_VARS), "unit_id": ("neuron", units),
                "visual": ("neuron", sel.gt_dependency.sel(dependency_group="visual").values),
                "feature_type": ("neuron", sel.gt_feature_type.values),
                "rf_x": ("neuron", sel.gt_rf_x.values), "rf_y": ("neuron", sel.gt_rf_y.values),
                "shift_x": ("neuron", shift[:, 0]), "shift_y": ("neuron", shift[:, 1])},
        attrs={"scan": ds.attrs.get("scan", ""), "steps": steps, "restarts": restarts, "lr": lr,
               "laplace_weight": laplace_weight, "weight_decay": weight_decay, "seed": seed,
               "eye": "at rest" if behavior is None else "the given eye position",
               "units": "frames: normalised (z-scored) grey levels; drive: SD"})


def _corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of ``a`` and ``b`` (K, P); NaN where constant."""
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    den = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    return np.where(den > 0, (a * b).sum(1) / np.where(den > 0, den, 1.0), np.nan)


def _shifted_corr(a: np.ndarray, b: np.ndarray, max_shift: int):
    """The best correlation (K,) of ``a`` (K, H, W) moved by (dy, dx) against
    ``b``, |dx|, |dy| <= max_shift, on their overlap: a[y + dy, x + dx] ~ b[y, x]."""
    K, H, W = a.shape
    best = np.full((K, 3), [-np.inf, 0, 0])
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            ya, yb = slice(max(dy, 0), H + min(dy, 0)), slice(max(-dy, 0), H + min(-dy, 0))
            xa, xb = slice(max(dx, 0), W + min(dx, 0)), slice(max(-dx, 0), W + min(-dx, 0))
            r = _corr(a[:, ya, xa].reshape(K, -1), b[:, yb, xb].reshape(K, -1))
            better = np.nan_to_num(r, nan=-np.inf) > best[:, 0]
            best[better] = np.stack([r, np.full(K, dx), np.full(K, dy)], 1)[better]
    best[~np.isfinite(best[:, 0]), 0] = np.nan
    return best[:, 0], best[:, 1].astype(int), best[:, 2].astype(int)


def mas_agreement(mas: xr.Dataset, truth: xr.Dataset, max_shift: int = 0) -> xr.Dataset:
    """Per neuron (those in both, in the MAS's order): ``image_corr``, the pixel correlation of the
    model's MAS and the true preferred stimulus (compute the truth at the MAS's
    eye position: module docstring), and ``behavior_corr``, the correlation
    across the six variables of the MAS's optimised behaviour and the true gain
    weights (NaN where the behaviour was not optimised or the neuron has no gain
    field). ``max_shift`` > 0 adds, as a diagnostic, the best correlation over
    whole-pixel displacements of the MAS up to that size (``best_shift_corr``,
    and the MAS's displacement ``shift_dx``, ``shift_dy``)."""
    common = np.array([n for n in mas.neuron.values if n in set(truth.neuron.values)])
    if not common.size:
        raise ValueError("the MAS and the truth share no neuron")
    if mas.sizes["y"] != truth.sizes["y"] or mas.sizes["x"] != truth.sizes["x"]:
        raise ValueError(f"the MAS frames ({mas.sizes['y']} x {mas.sizes['x']}) and the true "
                         f"ones ({truth.sizes['y']} x {truth.sizes['x']}) differ in size")
    m, t = mas.sel(neuron=common), truth.sel(neuron=common)
    a, b = m.mas.values, t.preferred.values
    K = len(common)
    beh = (_corr(m.behavior.sel(behavior_var=t.behavior_var).values, t.gain_weights.values)
           if mas.attrs.get("behavior_optimised", 1) else np.full(K, np.nan))
    out = xr.Dataset({"image_corr": ("neuron", _corr(a.reshape(K, -1), b.reshape(K, -1))),
                      "behavior_corr": ("neuron", beh)},
                     coords={"neuron": common,
                             **{c: ("neuron", t[c].values) for c in ("visual", "feature_type")
                                if c in t.coords}})
    if max_shift > 0:
        r, dx, dy = _shifted_corr(a, b, int(max_shift))
        out = out.assign(best_shift_corr=("neuron", r), shift_dx=("neuron", dx),
                         shift_dy=("neuron", dy))
    return out
