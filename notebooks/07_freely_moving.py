# ---
# jupyter:
#   jupytext:
#     formats: notebooks///py:percent,notebooks/ipynb///ipynb
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # V1 in freely moving mice
#
# **Question.** When a mouse explores an arena, how much of the activity of
# its V1 neurons can a model predict from what a head-mounted camera sees, and
# how much does it gain from the eye and head movements and the running and
# pupil the animal shows? {cite:t}`xu2023multimodal` built a multimodal model
# for such recordings {cite:p}`parker2022joint`: a *shifter* that moves and
# rotates each head-camera frame by an amount learned from the eye's position
# and the head's pitch and roll (a gaze correction), a three-layer CNN that
# maps the corrected frame to one value per neuron, a behaviour encoder that
# does the same for the behavioural variables, their changes and products, a
# fusion of the two streams, their product (a gain field), a GRU over the last
# few bins, and a softplus readout. On three mice, the 2-s smoothed test
# correlation rose from {glue:text}`xu_r_vision:.3f` (vision only) to
# {glue:text}`xu_r_vision_shifter:.3f` with the shifter, to
# {glue:text}`xu_r_full:.3f` with behaviour and the GRU, and to
# {glue:text}`xu_r_frames_4:.3f` with four frames of history.
#
# Here the same model sees the in-silico V1 of a simulated mouse: it runs in
# bouts through an arena whose walls carry natural textures, turns its head,
# moves its eyes to partly compensate (with saccades), and its pupil follows
# arousal. Its neurons read the *retinal* image (the camera frame moved and
# rotated as the eye saw it) and combine it with behaviour through gain fields,
# each with a known subset of behavioural dependencies. So we can ask what the
# paper could not: how close each model comes to what is predictable, and
# whether the shifter learns the true eye.

# %% tags=["parameters"]
profile = "auto"
seed = 2018
device = "auto"
freely_moving_data = None
results_dir = None

# %%
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from v1lib import chapter, ledger, plots
from v1lib.published import PUBLISHED
from v1lib.stats import t_interval, verdict
from v1lib.studies import freely_moving as fm
from v1lib.studies.static import replicates

prof, dataset, scans, device = chapter.setup(profile, freely_moving_data or fm.session_data(profile),
                                             results_dir, device)
chapter.glue_published("xu_r_vision", "xu_r_vision_shifter", "xu_r_full", "xu_r_frames_4")
first = next(iter(scans.values()))
bin_ms = 1000 * float(first.attrs["bin_s"])
display(Markdown(
    f"Profile **{prof['name']}**; dataset **{dataset}**: {len(scans)} animals, one session each of "
    f"{first.sizes['time'] * float(first.attrs['bin_s']) / 60:.0f} min in {bin_ms:.0f}-ms bins, "
    f"{', '.join(str(ds.sizes['neuron']) for ds in scans.values())} units (those firing at "
    f"3 Hz or more, as in the paper), head-camera frames of {first.sizes['y']} x "
    f"{first.sizes['x']} px; on `{device}`."))

# %% [markdown]
# ## What the mouse sees, and what it does
#
# The head camera's frames (top) and the retinal images the simulated neurons
# read (bottom), one second apart. The eye's rotation in the head moves and
# turns the retinal image against the camera's; that difference is what the
# shifter has to learn from the eye and head angles.

# %%
step = int(round(1000 / bin_ms))
times = np.arange(0, 5 * step, step) + step * 30
retina = fm.retinal_session(first.isel(time=times)) if "gt_retinal_shift" in first else None
rows = [first.frames.values[times]] + ([retina.frames.values] if retina is not None else [])
titles = [f"camera, {t * bin_ms / 1000:.0f} s" for t in times]
titles += [f"retina, {t * bin_ms / 1000:.0f} s" for t in times] if retina is not None else []
plots.image_grid(np.concatenate(rows), titles, ncols=len(times), width=9);

# %% [markdown]
# One minute of the first animal's behaviour: running speed, head pitch and
# roll, the eye's horizontal (θ) and vertical (φ) position, and the pupil.

# %%
minute = first.isel(time=slice(0, int(60_000 / bin_ms)))
seconds = minute.time.values - minute.time.values[0]
units = {"speed": "cm/s", "pitch": "deg", "roll": "deg", "eye_theta": "deg", "eye_phi": "deg",
         "pupil": "a.u."}
fig, axes = plt.subplots(len(units), 1, figsize=(9, 6.5), sharex=True)
for k, (ax, (var, unit)) in enumerate(zip(axes, units.items())):
    ax.plot(seconds, minute.behavior.sel(behavior_var=var), lw=0.7, color=f"C{k}")
    ax.set_ylabel(f"{var}\n({unit})", fontsize=8)
axes[-1].set_xlabel("time in the session (s)");

# %% [markdown]
# ## What is predictable
#
# There are no repeated stimuli in a freely moving session, so no oracle. The
# paper scores a model by the correlation of its prediction with the spikes
# after both are smoothed with a 2-s boxcar. The simulator knows each neuron's
# *observable rate*, its expected spike count given the frames and behaviour
# (its hidden brain state averaged out): the correlation of the spikes with it
# is the most any model of these inputs can reach (test bins).

# %%
ceil = fm.ceilings(scans)
ceil.round(3)

# %% [markdown]
# ## The ablations
#
# On every animal we train the model without behaviour (vision only), with and
# without the shifter; the full model with each set of behavioural features
# (B: speed, pitch, roll, eye θ and φ, pupil; B': their changes over one bin;
# products: all pairwise products) and with several frames of history; and,
# beyond the paper, the model without its visual stream (behaviour only),
# without the GRU, and with the *true* retinal image in place of the learned
# shifter. Each row is the mean over animals with its 95 % t-interval (each
# animal its own neurons, spikes and test bins); the paper's column is the mean
# of its three mice.

# %%
ab = fm.ablation(scans, profile, results_dir=results_dir, device=device)
st = fm.settings(profile)
display(Markdown(
    f"{ab.sizes['animal']} animals x {ab.sizes['seed']} seed(s) per animal; training epochs "
    f"(mean): {float(ab.epochs.mean()):.0f}; parameters of the full model: "
    f"{int(ab.parameters.sel(variant='full').max()):,}." if "full" in ab.variant.values else ""))
fm.ablation_table(ab)

# %%
order = list(ab.variant.values)
per_animal = ab.smoothed_corr.mean("seed")
fig, ax = plt.subplots(figsize=(8, 0.32 * len(order) + 1))
y = np.arange(len(order))[::-1]
for k, a in enumerate(per_animal.animal.values):
    ax.scatter(per_animal.sel(animal=a), y, s=14, color="0.6", zorder=2,
               label="animals" if k == 0 else None)
ax.scatter(per_animal.mean("animal"), y, s=40, color="C0", zorder=3, label="mean")
paper = [fm.paper_value(str(v)) for v in order]
ax.scatter(paper, y, marker="x", s=45, color="C3", zorder=4, label="paper (3 mice)")
if "ceiling r, smoothed" in ceil:
    ax.axvline(float(ceil["ceiling r, smoothed"].mean()), color="0.3", ls="--", lw=1,
               label="observable ceiling")
ax.set_yticks(y, [fm.VARIANTS[str(v)][0] for v in order], fontsize=8)
ax.set_xlabel("test correlation, 2-s smoothed (mean over neurons)")
ax.legend(fontsize=7, loc="lower right");

# %%
def change(a, b, reported=None):
    if a not in ab.variant.values or b not in ab.variant.values:
        return None
    iv = fm.difference(ab, a, b)
    paper = "" if reported is None else f" (paper {reported:+.3f})"
    return (f"* **{fm.VARIANTS[a][0]}** against **{fm.VARIANTS[b][0]}**: {iv.span(signed=True)}"
            f"{paper}; the change {verdict(iv, reported, 'the paper' + chr(39) + 's change')}.")


xu = lambda k: PUBLISHED[f"xu_r_{k}"].value
lines = [change("vision_shifter", "vision", xu("vision_shifter") - xu("vision")),
         change("full", "vision_shifter", xu("full") - xu("vision_shifter")),
         change("frames_4", "full", xu("frames_4") - xu("full")),
         change("retinal", "full"), change("vision_retinal", "vision_shifter"),
         change("full", "no_gru"), change("full", "behavior_only")]
display(Markdown("Paired differences of the smoothed test correlation (over animals):\n\n"
                 + "\n".join(x for x in lines if x)))

# %% [markdown]
# ## Neuron by neuron
#
# The paper's third figure: each neuron's smoothed test correlation under the
# vision-only model with shifter against the full model, here for the first
# animal.

# %%
reps = replicates(scans, st)
animal, seed_1 = reps[0]
fits = {v: fm.fit_variant(scans, profile, v, animal, seed_1, results_dir, device)
        for v in ("vision_shifter", "full") if v in ab.variant.values}
if len(fits) == 2:
    r = {v: fm.neuron_scores(f, scans[animal], v).smoothed_corr.values for v, f in fits.items()}
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
    axes[0].scatter(r["vision_shifter"], r["full"], s=12)
    lim = [min(0, np.nanmin(list(r.values()))), 1]
    axes[0].plot(lim, lim, color="0.5", lw=0.8)
    axes[0].set(xlabel="r, vision only + shifter", ylabel="r, full model", xlim=lim, ylim=lim)
    axes[1].hist(r["full"] - r["vision_shifter"], bins=20, color="C0")
    axes[1].axvline(0, color="0.3", lw=0.8)
    axes[1].set(xlabel="r, full - vision only + shifter", ylabel="neurons")
    better = float(np.mean(r["full"] > r["vision_shifter"]))
    display(Markdown(f"The full model predicts {100 * better:.0f} % of the first animal's neurons "
                     "better than the vision-only model with shifter."))

# %% [markdown]
# ## Did the shifter learn the eye?
#
# The shifter's move of the frame on the test bins against the true move of
# the retinal image (both in the same convention: where the retina reads the
# camera frame). A shifter that learned the eye would follow the diagonal, up
# to an offset: a constant shift is equivalent to moving every neuron's
# receptive field in the CNN.

# %%
if "full" in fits and "gt_retinal_shift" in scans[animal]:
    rec = fm.shifter_recovery(fits["full"], scans[animal])
    agreement = fm.shifter_agreement(rec)
    fig, axes = plt.subplots(1, 3, figsize=(9, 3))
    for ax, (axis, unit) in zip(axes, fm.SHIFTER_AXES.items()):
        ax.scatter(rec[f"true_{axis}"], rec[f"learned_{axis}"], s=3, alpha=0.4)
        ax.set(xlabel=f"true {axis} ({unit})", ylabel=f"learned {axis} ({unit})")
    display(Markdown("Learned against true move of the retinal image, first animal: "
                     + "; ".join(f"{axis}: correlation {row.correlation:.2f}, slope "
                                 f"{row.slope:.2f}" for axis, row in agreement.iterrows()) + "."))

# %% [markdown]
# ## What this shows

# %%
parts = []
truth = bool(np.isfinite(ab.gt_observable_ceiling_smoothed_fraction).any())
if "full" in ab.variant.values and truth:
    frac = ab.gt_observable_ceiling_smoothed_fraction.sel(variant="full").mean("seed")
    parts.append(f"The full model reaches {100 * float(frac.mean()):.0f} % of the observable "
                 "ceiling (smoothed): the paper's correlations measure a model against the "
                 "spikes, and here the spikes themselves cap what any model can reach.")
if {"retinal", "full"} <= set(ab.variant.values):
    iv = fm.difference(ab, "retinal", "full")
    parts.append(f"Giving the model the true retinal image instead of learning the gaze "
                 f"correction changes its smoothed correlation by {iv.span(signed=True)}: "
                 + ("the learned shifter falls short of knowing the eye." if iv.lo > 0 else
                    "the learned shifter does better than the true retinal image." if iv.hi < 0
                    else f"with {iv.n} animals the data cannot tell whether the learned shifter "
                    "falls short of knowing the eye."))
if {"behavior_only", "full"} <= set(ab.variant.values):
    bo = t_interval(ab.smoothed_corr.sel(variant="behavior_only").mean("seed").values)
    parts.append(f"Behaviour alone predicts a smoothed correlation of {bo.span()}"
                 + (": slow fluctuations of the spikes follow running, pupil and posture, so "
                    "part of a smoothed correlation is not visual at all." if bo.lo > 0 else
                    "; with these animals that is not resolved from zero."))
display(Markdown(" ".join(parts)))

# %% [markdown]
# The chapter's models and its paper's claims, with their verdicts, go to the
# book's ledger, which the closing chapter reads.

# %%
entries = fm.ledger_entries(ab, dataset)
ledger.record("07_freely_moving", profile, *entries, results_dir=results_dir)
