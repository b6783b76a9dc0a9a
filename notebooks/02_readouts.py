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
# # Readouts: where each neuron looks
#
# **Question.** A convolutional core computes the same features at every
# position of the image. Each neuron then needs a *readout*: which position it
# looks at and which features it pools there. {cite:t}`lurz2021generalization`
# proposed the **Gaussian readout**: one position per neuron, learned as a 2D
# Gaussian during training, optionally predicted from the neuron's cortical
# position (the *grid predictor*, i.e. retinotopy). They report that it needs
# up to two orders of magnitude fewer parameters per neuron than the
# **factorized readout** (a full spatial mask per neuron,
# {cite:t}`klindt2017neural`) and a **{glue:text}`gaussian_readout_gain:.0f` %
# gain** in performance over the
# previous state-of-the-art network; here we set that gain against the
# factorized readout on the same core. The
# **point-pooled readout** of {cite:t}`sinz2018stimulus` is a third option, and
# a **shifter** (eye position) and a **modulator** (running, pupil) add what the
# image alone cannot explain.
#
# On the in-silico V1 we can ask more than which readout predicts best: does
# the model put each neuron where it really looks, move it with the eye the way
# the eye really moves, and scale it with behaviour the way the behaviour really
# scales it?
#
# | variant | position | features | extra |
# |---|---|---|---|
# | Gaussian + grid | μ = g(cortical x, y), sampled from N(μ, Σ) in training | C weights | |
# | Gaussian, free positions | μ learned per neuron | C weights | |
# | factorized | a full mask over the feature map | C weights | |
# | point-pooled | a learned point | C weights × 3 pooling levels | |
# | Gaussian + grid + shifter + modulator | as Gaussian + grid, shifted per trial by the eye position | C weights | behavioural gain per neuron |

# %% tags=["parameters"]
profile = "auto"
seed = 2018
device = "auto"
data = None
results_dir = None

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from v1lib import chapter, ground_truth, ledger, probes
from v1lib.chapter import glue
from v1lib.evaluation import evaluate
from v1lib.sim.static import simulator_config
from v1lib.stats import mean_ci
from v1lib.studies import readout_gap, readouts, tuning, upper_bound
from v1lib.studies.static import fit_variant, replicates, study_settings, variant_config

prof, dataset, scans, device = chapter.setup(profile, data, results_dir, device)
chapter.glue_published("gaussian_readout_gain")
settings = study_settings(profile)
reps = replicates(scans, settings)  # (animal, seed) of every replicate
model_cfg, train_cfg = variant_config(profile, "gaussian_full")
scan0, seed0 = reps[0]  # the animal of the ground-truth comparisons
ds0 = scans[scan0]
display(Markdown(
    f"Profile **{prof['name']}**; dataset **{dataset}**; one model per animal and variant, on "
    f"{len(reps)} animals ({', '.join(a for a, _ in reps)}; "
    f"{ds0.sizes['neuron']} neurons in the first), on `{device}`. Core: {model_cfg.core.layers} layers × "
    f"{model_cfg.core.channels} channels, first kernel {model_cfg.core.input_kernel} px "
    f"(stride {model_cfg.core.stride}), hidden kernels {model_cfg.core.hidden_kernel} px. "
    + readouts.budget_text(settings, prof["name"])))

# %% [markdown]
# ## An equal search for every readout
#
# The readouts differ in how many weights their L1 penalty acts on: the
# factorized readout learns a spatial mask of the whole feature map per neuron,
# the Gaussian readout one position. One shared regularisation strength would
# favour one of them. Each readout kind therefore gets the same small search
# of its regularisation, scored on the first animal's *validation* tier (the
# test tier is not looked at), and every model below is trained at its
# readout's best value.

# %%
search = tuning.readout_search(scans, profile, results_dir, device)
tuned = tuning.tuned_options(search)
fig, ax = plt.subplots(figsize=(5, 3.2))
for r, color in zip(search.readout.values, ("C0", "C1")):
    v = search.val_score.sel(readout=r)
    ax.plot(search.factor, v, "o-", color=color, label=f"{r} readout")
    f = tuning.best_factors(search)[str(r)]
    ax.plot([f], [float(v.sel(factor=f))], "*", color=color, ms=14)
ax.set(xscale="log", xlabel="readout regularisation (× the profile's γ)",
       ylabel="validation correlation", title=f"sensitivity on animal {search.attrs['animal']}")
ax.legend(fontsize=8)
display(Markdown(tuning.search_text(search)))

# %% [markdown]
# ## Training every variant
#
# Each variant is trained on each animal, one model per animal with its own
# seed, with the recipe of the Lurz and Sensorium code (Poisson loss, Adam,
# early stopping on the
# validation correlation with learning-rate decay; see `v1lib.train`). Every
# readout starts from each neuron's mean response (its bias), as the Lurz
# code's readouts do (the Sensorium baseline starts at 0): started from one
# shared prediction, the first
# steps move every neuron's position the same way, and with a frozen core
# (chapter 3) the grid predictor could run all neurons into one corner of the
# feature map and stay there. Trained models are cached under
# `results/models/`, so re-running this chapter reloads them.

# %%
comparison = readouts.readout_comparison(scans, profile, results_dir=results_dir, device=device,
                                         tuned=tuned)

# %% [markdown]
# ## Which readout predicts best?
#
# Mean over animals with its 95 % t-interval in brackets, on the test tier
# (repeated images). *Fraction oracle* is Lurz's headline metric: the slope of
# a line through the origin fitted to the neurons' test correlations against
# their oracle correlations. The *fractions of the ceilings* are what only a
# simulation can give: the model's mean single-trial correlation over that of
# a ground-truth rate. The full *ceiling* is the true noise-free rate; the
# *observable* ceiling leaves out the latent brain state that no recorded
# variable carries, so it is the most a model that sees the image, the eye and
# the behaviour could reach; the *image-only* ceiling is the expected response
# to the image alone, the most a model that sees only the image could reach.
#
# Two scales, two kinds of model. The oracle and FEVE count the variability
# that the eye, the behaviour and the brain state cause as noise, so a model
# that sees the eye and the behaviour can exceed a fraction oracle and a FEVE of
# 1 (chapter 1), and an image-only model is best judged against the image-only
# ceiling. The table therefore gives every variant's fraction of the image-only
# ceiling beside the observable one; the variants with a shifter or a modulator
# are never ranked against the image-only ones on one scale. Every formula is
# on the {doc}`../metrics` page.

# %%
table = readouts.comparison_table(comparison)
display(Markdown(readouts.convergence_text(comparison, train_cfg.max_epochs)))
table

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
for ax, key, label in ((axes[0], "fraction_oracle", "fraction oracle"),
                       (axes[1], "gt_stimulus_only_ceiling_fraction", "fraction of image-only ceiling"),
                       (axes[2], "gt_observable_ceiling_fraction", "fraction of observable ceiling")):
    vals = comparison[key]
    mean, half = mean_ci(vals, "animal")
    for i, v in enumerate(comparison.variant.values):
        y = vals.sel(variant=v).values
        y = y[np.isfinite(y)]  # the animals this variant was trained on
        ax.scatter(np.full(len(y), i), y, s=18, color="C0", alpha=0.7)
        e = float(half.sel(variant=v))  # no bar where one animal gives no interval
        ax.errorbar(i, float(mean.sel(variant=v)), yerr=e if np.isfinite(e) else None,
                    fmt="_", color="k", ms=18, capsize=3)
    ax.set_xticks(range(comparison.sizes["variant"]))
    ax.set_xticklabels([lbl.replace(" + ", "\n+ ") for lbl in comparison.label.values], fontsize=7)
    ax.set(ylabel=label, title=label)
fig.suptitle("dots: animals; bars: mean and 95 % t-interval over animals", fontsize=9)

# %%
display(Markdown(readouts.headline_text(comparison)))

# %% [markdown]
# Variants with a shifter or a modulator also see the eye position or the
# behaviour, so the readouts themselves are compared among the image-only
# variants (below). The reported gain is +{glue:text}`gaussian_readout_gain:.0f` %
# {cite:p}`lurz2021generalization`.
# Whether the difference is resolved, animal by animal (the mean of the
# per-animal changes, which can differ from the change of the means), with
# the verdict read off its 95 % t-interval:

# %%
display(Markdown(readouts.readout_claim_text(comparison)))

# %% [markdown]
# Any verdict here holds for this training budget only: the note on
# convergence above the table says which models ran into the epoch limit while
# still improving, and a limit that cuts some variants short favours the
# others. Each readout has its own regularisation from the search above; the
# learning rate is shared.
#
# Among the readouts that see only the image, and the grid predictor against
# free positions:

# %%
sim = simulator_config(ds0)
glue("rf_scatter_deg", sim.population.rf_scatter_deg, display=False)
glue("rf_scatter_px", sim.population.rf_scatter_deg / sim.deg_per_px, display=False)
display(Markdown(readouts.ranking_text(comparison) + " " + readouts.ln_text(comparison)))

# %% [markdown]
# ## The gap against the amount of data
#
# Lurz et al. compared the readouts not at one amount of data but along it
# (their Fig. 3): with fewer images, a readout that learns one position per
# neuron and ties neighbours together through the grid predictor should lose
# less than one that learns a whole spatial mask per neuron; with fewer
# neurons, the core itself learns from less. Both readouts are trained
# directly on each animal with a random part of its training images (the same
# parts and the same budget of optimiser steps as chapter 3's direct models,
# which these Gaussian models are), and, where the profile asks, on a random
# subset of its neurons at the smallest and the largest amount of images.

# %%
if readout_gap.gap_settings(profile) is None:
    display(Markdown(f"The **{prof['name']}** profile does not run this study (its "
                     "`readout_gap` setting is absent)."))
else:
    gap = readout_gap.readout_gap(scans, profile, results_dir, device, tuned)
    readout_gap.plot_gap(gap)
    plt.show()
    display(Markdown(readout_gap.gap_text(gap)))

# %% [markdown]
# The gap need not shrink steadily as images are added. With the fewest
# images both readouts sit near chance: what is missing then is the core,
# which learns from the same few images whichever readout it has, so the
# readouts have little to separate them. With many images the factorized
# masks get enough data to catch up. In between, a core that has begun to
# learn meets a factorized readout whose masks are still mostly noise: that
# is where one position per neuron, tied to its neighbours by the grid
# predictor, should pay most (the text above says where the gap is largest on
# these data). With few neurons the core learns from fewer responses, which
# should lower both readouts.

# %% [markdown]
# ## Is the Gaussian readout favoured by construction?
#
# A simulator whose neurons each read one shared feature map at one point
# would hand the Gaussian readout its answer. The in-silico V1 of this book
# does more (chapter 1): its RFs have spatial extent and a surround, neurons
# pool several features at several positions, some are driven by a luminance
# feature that is not in the bank, and behaviour and the eye act in ways no
# shifter or modulator of these models can express. Its *well-specified twin*
# switches all of that off: the same animals, images and behaviour, with
# neurons exactly of the class the models can express. The readout pair is
# trained on both.

# %%
twin = readouts.well_specified_twin(profile, dataset, results_dir)
if twin is None:
    display(Markdown("These data have no well-specified twin (it exists for the profile's own "
                     "simulated dataset only)."))
else:
    twin_comparison = readouts.readout_comparison(twin, profile, variants=["gaussian", "factorized"],
                                                  results_dir=results_dir, device=device,
                                                  tuned=tuned)
    display(Markdown(readouts.worlds_text(comparison, twin_comparison)))

# %% [markdown]
# Where the gap is larger in the well-specified world, part of the Gaussian
# readout's advantage there comes from the simulator being built like the
# model; the gap with the mechanisms switched on is the one this book stands by.
#
# ## How far from a perfect core?
#
# An upper bound that only a simulation gives: the same Gaussian readout with
# the grid predictor, trained the same way on each animal, on the simulator's
# own feature bank in place of a trained core (frozen, so only the readout
# learns; `v1lib.models.true_bank`). In the well-specified world this model
# class contains the truth up to the output nonlinearity (ELU + 1 here, a soft
# threshold in the simulator) and the readout's Gaussian blur of each position,
# so a fully trained bound would come close to the ceiling there; with the
# mechanisms switched on, what the bound misses is out of reach of any core
# read out at one point per neuron.

# %%
if not upper_bound.available(scans):
    display(Markdown("These data are not simulated: they have no true feature bank."))
else:
    worlds = {"default": scans, **({"well-specified": twin} if twin is not None else {})}
    bounds = upper_bound.upper_bounds(worlds, profile, results_dir, device, tuned.get("gaussian"))
    bound = bounds["default"]
    texts = [upper_bound.bound_text(comparison, bound, "default")]
    if twin is not None:
        texts.append(upper_bound.bound_text(twin_comparison, bounds["well-specified"],
                                            "well-specified"))
    display(Markdown(" ".join(texts)))

# %% [markdown]
# A bound well short of 1 in the well-specified world says how much the
# readout's training leaves on the table at this budget, and it applies to the
# trained models as well; the gap between the trained core and the bound is
# what a better core could add.
#
# Lurz et al. introduced the grid predictor for data efficiency and transfer:
# it ties neighbouring neurons' positions together through the retinotopic
# map. In the in-silico V1 every neuron's RF centre scatters around that
# smooth map (SD {glue:text}`rf_scatter_deg:.1f`° per axis, about
# {glue:text}`rf_scatter_px:.1f` px). Free positions can follow that scatter
# and a smooth function of cortical position cannot; in exchange, the grid
# predictor learns no position per neuron. Which matters more depends on how
# many images constrain each neuron.

# %% [markdown]
# ## Neuron by neuron
#
# A population number hides which neurons a model gets right. For the first
# animal, each neuron's test correlation against its oracle correlation (the
# fraction oracle is the slope of the line through the origin, dashed) and
# against its image-only ceiling (the diagonal: the most an image-only model
# can reach):

# %%
image_only = [v for v in ("gaussian", "factorized") if v in comparison.variant.values]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
top = 0.0
for v, color in zip(image_only, ("C0", "C1")):
    fit = fit_variant({scan0: ds0}, profile, v, seed0, results_dir, device, show_progress=False,
                      model=tuned.get(v))
    sc, summary, _ = evaluate(fit.model, fit.tensors, {scan0: ds0}, "test")
    label = readouts.LABELS[v]
    axes[0].scatter(sc.oracle_corr, sc.single_trial_corr, s=4, alpha=0.35, color=color,
                    label=f"{label} (fraction oracle {summary['fraction_oracle']:.2f})")
    o = np.array([0, float(sc.oracle_corr.max())])
    axes[0].plot(o, summary["fraction_oracle"] * o, "--", color=color, lw=1)
    axes[1].scatter(sc.gt_stimulus_only_ceiling_corr, sc.single_trial_corr, s=4, alpha=0.35,
                    color=color, label=f"{label} ({summary['gt_stimulus_only_ceiling_fraction']:.2f} "
                    "of the ceiling)")
    top = max(top, float(sc.gt_stimulus_only_ceiling_corr.max()), float(sc.single_trial_corr.max()))
lim = [0, top]
axes[1].plot(lim, lim, "k:", lw=1)
axes[0].set(xlabel="oracle correlation", ylabel="test correlation (single trial)",
            title="model vs oracle")
axes[1].set(xlabel="image-only ceiling correlation (ground truth)",
            ylabel="test correlation (single trial)", title="model vs image-only ceiling")
for ax in axes:
    ax.legend(fontsize=7, loc="upper left")

# %% [markdown]
# Neurons near the diagonal on the right are predicted as well as their
# image-driven response allows; the oracle on the left is a noisier yardstick,
# since it is estimated from a handful of repeats.

# %% [markdown]
# ## Does the model put each neuron where it looks?
#
# We map each model neuron's receptive field *in silico*: the mean squared
# gradient of its predicted response with respect to white-noise images
# (one backward pass serves many neurons, `v1lib.probes.sensitivity_maps`). Its
# centroid is compared with the true RF centre, after removing one global
# offset per animal (the shifter's output at the mean eye position, and any
# fixed displacement of the feature map). The model is the full Gaussian model
# of the first animal.

# %%
full = fit_variant({scan0: ds0}, profile, "gaussian_full", seed0, results_dir, device,
                   show_progress=False, model=tuned.get("gaussian_full"))
h, w = ds0.sizes["y"], ds0.sizes["x"]
maps = ground_truth.rf_maps(full.model, scan0, (h, w))
rf = ground_truth.compare_rf_centres(probes.map_centres(maps), ds0)
chance = np.hypot(ds0.gt_rf_x - ds0.gt_rf_x.median(), ds0.gt_rf_y - ds0.gt_rf_y.median())
types = ds0.gt_feature_type.values
responsive = ds0.gt_responsive.values.astype(bool)

fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
for ax, axis in zip(axes[:2], ("x", "y")):
    ax.scatter(rf[f"true_rf_{axis}"][responsive], rf[f"model_rf_{axis}"][responsive], s=4, alpha=0.4)
    lim = (0, (w if axis == "x" else h) - 1)
    ax.plot(lim, lim, "k:", lw=1)
    ax.set(xlabel=f"true RF {axis} (px)", ylabel=f"model RF {axis} (px)", xlim=lim, ylim=lim,
           title=f"RF centre, screen {axis}")
bins = np.linspace(0, 20, 41)
axes[2].hist(rf.error.values[responsive], bins=bins, alpha=0.7, label="model")
axes[2].hist(chance.values[responsive], bins=bins, alpha=0.5, label="population median")
axes[2].set(xlabel="distance to true RF centre (px)", ylabel="neurons", title="RF centre error")
axes[2].legend(fontsize=8)
deg = sim.deg_per_px
err = pd.Series(rf.error.values[responsive]).groupby(types[responsive]).median()
glue("rf_err_px", float(np.median(rf.error.values[responsive])), display=False)
glue("rf_err_deg", float(np.median(rf.error.values[responsive])) * deg, display=False)
glue("rf_chance_px", float(np.median(chance.values[responsive])), display=False)
err.rename("median error (px)").to_frame().round(2)

# %% [markdown]
# The median distance between the mapped and the true RF centre is
# {glue:text}`rf_err_px:.2f` px ({glue:text}`rf_err_deg:.1f`°), against
# {glue:text}`rf_chance_px:.1f` px for a guess at the population's median
# position. Only responsive neurons are counted; the table splits the error by
# the neurons' true feature type.
#
# ## Does the shifter recover the eye movements?
#
# The shifter turns the pupil centre into one shift of all RFs per trial. The
# simulator knows the true shift of every trial (`gt_eye_shift`, screen px): the
# translation part of the eye's effect. The rest is outside what a shifter can
# express: a torsion of the visual field with vertical eye position, which
# moves peripheral RFs more than central ones, and an eye-position gain field.

# %%
shifts = ground_truth.recovered_shifts(full.model, scan0, ds0)
agree = ground_truth.shift_agreement(shifts)
fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
for ax, a in zip(axes, ("x", "y")):
    t = shifts.true_shift.sel(eye_axis=a)
    m = shifts.model_shift.sel(eye_axis=a)
    ax.scatter(t - t.mean(), m - m.mean(), s=3, alpha=0.3)
    lim = float(np.abs(t - t.mean()).max())
    ax.plot([-lim, lim], [-lim, lim], "k:", lw=1)
    ax.set(xlabel=f"true RF shift {a} (px)", ylabel=f"shifter output {a} (px)",
           title=f"eye axis {a}: r = {float(agree.corr.sel(eye_axis=a)):.2f}")
agree.to_dataframe().round(3)

# %% [markdown]
# A correlation near 1 means the shifter found *when* and *which way* the RFs
# move; a slope near 1 means it also found *how far* (the dotted line). The
# *tail slope* is the same slope on the 5 % of trials with the largest true
# shifts, where few trials constrain the shifter and its tanh units can saturate:

# %%
display(Markdown(ground_truth.shift_tail_text(agree)))

# %% [markdown]
# ## Does the modulator recover the behavioural gain?
#
# The simulated multiplicative gain is log-linear in the z-scored pupil size,
# its derivative and running speed. We regress the modulator's log gain on the
# same variables and compare the slopes with the true weights of that gain,
# neuron by neuron. Behaviour also acts on the drive before the nonlinearity
# and adds to the response after it; a modulator, a gain after the readout,
# can only approximate those parts, so perfect agreement is not expected here.

# %%
gw = ground_truth.recovered_gain_weights(full.model, scan0, ds0)
gains = ground_truth.gain_agreement(gw, responsive)
fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
for ax, v in zip(axes, gw.behavior_var.values):
    t = gw.true_weight.sel(behavior_var=v).values[responsive]
    m = gw.model_weight.sel(behavior_var=v).values[responsive]
    ax.scatter(t, m, s=4, alpha=0.4)
    lim = [min(t.min(), m.min()), max(t.max(), m.max())]
    ax.plot(lim, lim, "k:", lw=1)
    ax.set(xlabel="true log-gain per SD", ylabel="model log-gain per SD",
           title=f"{ground_truth.BEHAVIOR_NAMES.get(v, v)}: r = {gains.loc[v, 'correlation']:.2f}")
gains.round(3)

# %%
display(Markdown(ground_truth.gain_text(gains, ds0)))

# %% [markdown]
# ## Training curves
#
# Validation correlation per epoch of the full model, with the learning rate.

# %%
hist = full.history
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(hist.epoch, hist.val_score, marker=".")
for e in readouts.lr_decays(hist):
    ax.axvline(e, ls="--", color="0.6", lw=1)
ax.xaxis.get_major_locator().set_params(integer=True)
ax.set(xlabel="epoch", ylabel="validation correlation", title="full Gaussian model")
display(Markdown(readouts.training_curve_text(hist)))

# %% [markdown]
# ## How close to the truth, and what is missing?
#
# The table above gives one number per model. The simulator can say *which*
# neurons a model fails on: below, the full model's fraction of the observable
# ceiling for the responsive neurons, split by the true feature type and
# spatial frequency (SF) of each neuron's primary feature.

# %%
scores, _, _ = evaluate(full.model, {scan0: full.tensors[scan0]}, {scan0: ds0}, "test")
by_tuning = ground_truth.ceiling_by_tuning(scores, ds0)
sf_cols = [c for c in by_tuning.columns if c != "all SFs"]
glue("ceiling_low_sf", float(by_tuning.loc["all types", sf_cols[0]]), display=False)
glue("ceiling_high_sf", float(by_tuning.loc["all types", sf_cols[-1]]), display=False)
glue("ceiling_all", float(by_tuning.loc["all types", "all SFs"]), display=False)
period_px = 1 / (max(sim.features.sf_cpd) * sim.deg_per_px)
glue("high_sf_period_px", period_px, display=False)
glue("map_spacing_px", model_cfg.core.stride, display=False)
glue("core_channels", model_cfg.core.channels, display=False)
by_tuning.round(3)

# %% [markdown]
# Over all responsive neurons the full model reaches
# {glue:text}`ceiling_all:.2f` of the observable ceiling: from
# {glue:text}`ceiling_low_sf:.2f` for the lowest SF to
# {glue:text}`ceiling_high_sf:.2f` for the highest. The highest SF's preferred
# grating has a period of {glue:text}`high_sf_period_px:.1f` px on the screen;
# this profile's feature map samples it every {glue:text}`map_spacing_px` px,
# and its features share the core's {glue:text}`core_channels` channels with
# every other SF, orientation and phase. If the highest SF is the weakest
# column, the core's resolution and width, not the readout, are the first
# suspects; a core with a finer feature map and more channels than this
# profile's is the test of that hypothesis.

# %% [markdown]
# ## What this chapter shows
#
# Every number above is computed in this chapter on this profile's data. Lurz
# et al. trained on thousands of neurons per scan and up to about 4,400 images
# per scan, to convergence; how this run compares with that scale:

# %%
display(Markdown(
    f"This run: profile **{prof['name']}**, {len(reps)} animals of {ds0.sizes['neuron']:,} "
    f"neurons, {int((ds0.tier == 'train').sum())} training images per animal, at most "
    f"{train_cfg.max_epochs} epochs per model (see the note on convergence above the table)."))

# %% [markdown]
# The chapter's models and its paper's claims, with their verdicts, go to the
# book's ledger, which the closing chapter reads.

# %%
entries = readouts.ledger_entries(comparison, dataset)
ledger.record("02_readouts", profile, *entries, results_dir=results_dir)
