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
# # Core transfer: how much a new animal needs
#
# **Question.** If the core computes features shared by all mice, a core
# trained on many neurons of several animals should serve a new animal as it is:
# only the new animal's readout has to be learned. {cite:t}`lurz2021generalization`
# report that such a transferred core predicts the new animal
# **{glue:text}`transfer_gain:.0f` % better** than a model trained directly on it,
# and reaches the direct model's performance with
# **{glue:text}`transfer_data_fraction:.0f` % of the data**.
#
# Here a core is trained on every simulated animal but one. On the held-out
# animal we then train, for growing fractions of its training images,
#
# * a **direct** model (core and readout, from scratch), and
# * a **transfer** model: the frozen core with a new Gaussian readout.
#
# Every animal takes its turn as the held-out one (leave one animal out), with
# its own source core, trained on the other animals with its own seed, and its
# own random training subsets. The intervals below are 95 % t-intervals over
# these held-out animals, so they include the variation between animals,
# source cores and subsets, not only the optimiser's. They are not fully
# independent: each animal is in the other animals' source cores, and all test
# images come from the same photographs, so the intervals may be somewhat too
# narrow. The held-out animal's training images are crops of photographs that
# no source animal was trained on (chapter 1). Every model of a curve
# gets the same budget of optimiser steps: with less data an epoch is not a
# pass over the data but a full-data epoch's number of steps, so early stopping
# and learning-rate decay count the same steps at every fraction.
#
# All simulated animals share one ground-truth feature bank, which is what
# Lurz et al. set out to test in real mice, so here transfer *should* work; the
# question is how much it buys at each amount of data.

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

from v1lib import chapter, ledger, plots
from v1lib.chapter import glue
from v1lib.evaluation import evaluate
from v1lib.published import PUBLISHED
from v1lib.sim.static import simulator_config
from v1lib.stats import mean_ci
from v1lib.studies import negative_control, readouts, transfer, tuning
from v1lib.studies.static import replicates, study_settings, variant_config

prof, dataset, scans, device = chapter.setup(profile, data, results_dir, device)
chapter.glue_published("transfer_gain", "transfer_data_fraction")
settings = study_settings(profile)
# the Gaussian readout's regularisation from chapter 2's search (its models reload)
gaussian = tuning.tuned_options(tuning.readout_search(scans, profile, results_dir, device)).get(
    "gaussian")
_, base_cfg = variant_config(profile, "gaussian", gaussian)
# the held-out animals are chapter 2's replicates: their direct models with all
# data are chapter 2's Gaussian + grid models, reloaded from the model cache
reps = replicates(scans, settings)
first, first_seed = reps[0]
display(Markdown(
    f"Profile **{prof['name']}**; dataset **{dataset}**. Held-out animals "
    f"{', '.join(a for a, _ in reps)}, each against a core trained on the other "
    f"{len(scans) - 1} of the {len(scans)} animals; "
    f"{int((scans[first].tier == 'train').sum())} training images per animal at most; fractions "
    f"{settings['fractions']}; on `{device}`."))

# %% [markdown]
# ## The data-efficiency curve

# %%
curve, cores = transfer.transfer_curve(scans, profile, results_dir=results_dir, device=device,
                                       model=gaussian)
core = cores[first]

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for ax, key, label in ((axes[0], "fraction_oracle", "fraction oracle"),
                       (axes[1], "gt_observable_ceiling_fraction",
                        "fraction of the observable ceiling")):
    for c, color in (("direct", "C0"), ("transfer", "C1")):
        m, e = mean_ci(curve[key].sel(condition=c), "animal")
        n = curve.n_train_images.sel(condition=c).mean("animal")
        ax.errorbar(n, m, yerr=e, marker="o", color=color, label=c, capsize=3)
    ax.set(xscale="log", xlabel="training images of the held-out animal", ylabel=label, title=label)
    ax.set_xticks(n.values, [f"{int(v):,}" for v in n.values], minor=False)
    ax.minorticks_off()
    ax.legend(fontsize=8)
fig.suptitle("mean and 95 % t-interval over held-out animals", fontsize=9)

# %% [markdown]
# The same comparison as a relative change, held-out animal by held-out
# animal: how much better (or worse) the transferred core does than direct
# training at each amount of data.

# %%
rel = transfer.transfer_gain(curve)  # %, per fraction and held-out animal
n_img = curve.n_train_images.sel(condition="direct").mean("animal")
fig, ax = plt.subplots(figsize=(6, 3.2))
for a in rel.animal.values:
    ax.plot(n_img, rel.sel(animal=a), marker="o", alpha=0.6, label=f"held out: {a}")
ax.axhline(0, color="k", lw=0.8)
reported = PUBLISHED["transfer_gain"]
ax.axhline(reported.value, color="C3", ls=":", lw=1, label=f"reported at full data ({reported.signed})")
ax.set(xscale="log", xlabel="training images of the held-out animal",
       ylabel="transfer vs direct (%)", title="gain of the transferred core (fraction oracle)")
ax.set_xticks(n_img.values, [f"{int(v):,}" for v in n_img.values])
ax.minorticks_off()
ax.legend(fontsize=7);

# %%
table = transfer.transfer_table(curve)
table

# %% [markdown]
# ## Against the reported numbers

# %%
claims = transfer.transfer_claims(curve)
glue("transfer_gain_full", claims["gain_at_full_data_pct"], display=False)
display(Markdown(claims["text"]))

# %%
display(Markdown(transfer.transfer_budget_text(cores, curve, base_cfg.max_epochs)))

# %% [markdown]
# ## A negative control: a V1 that computes other features
#
# Transfer works here because every simulated animal reads the same feature
# bank. An animal whose neurons read *another* bank should not profit as much.
# The control animal below reads a bank of finer spatial frequencies and other
# orientations; its neurons, images and noise are its own (another seed), and
# its training images are crops of photographs that no source animal saw (its
# validation and test photographs are the shared ones). Each source core of the curve gets a new readout on it, at the
# smallest and the largest amount of data, against a model trained directly
# on it. The gains are measured as fractions of each animal's own image-only
# ceiling, so animals of different predictability are comparable.

# %%
foreign = negative_control.foreign_scans(profile, dataset, results_dir)
if foreign is None:
    display(Markdown("The profile names no foreign animal for these data (`foreign_data`), so "
                     "the control is not run."))
else:
    control = negative_control.foreign_transfer(
        foreign, scans, cores, profile, fractions=[float(curve.fraction.min()),
                                                   float(curve.fraction.max())],
        results_dir=results_dir, device=device, model=gaussian)
    display(Markdown(negative_control.banks_text(scans[first], foreign)))
    sc = negative_control.scores(curve, control)
    fig, axes = plt.subplots(1, sc.sizes["fraction"], figsize=(9, 3.4), sharey=True)
    for ax, f in zip(np.atleast_1d(axes), sc.fraction.values):
        at = sc.sel(fraction=f)
        for s in sc.source.values:
            ax.plot([0, 1], [at.transfer_same.sel(source=s), at.transfer_foreign.sel(source=s)],
                    marker="o", alpha=0.7, label=f"core of held-out {s}")
        ax.plot([0, 1], [at.direct_same.mean(), at.direct_foreign.mean()], "kx", ms=9,
                label="direct training")
        ax.set_xticks([0, 1], ["held-out animal\n(same bank)", "foreign animal"])
        ax.set(xlim=(-0.4, 1.4), title=f"{100 * f:.0f} % of the data",
               ylabel="fraction of image-only ceiling")
    np.atleast_1d(axes)[-1].legend(fontsize=7)
    display(Markdown(negative_control.control_text(curve, control)))

# %% [markdown]
# Two questions are read off these numbers. Does the core serve an animal of
# another bank as well as its own kind? A transferred core that falls short on
# the foreign animal carries the source animals' features, not features that
# every V1 needs. And does transfer still beat direct training there? A gain
# that stays or grows says that a core trained on several animals' worth of data
# can beat a core learned from one animal's images even where its features do
# not match, so a gain of transfer over direct training is no proof by itself
# that the animals share their features.

# %% [markdown]
# What was transferred: the first-layer filters of the source core of the
# first held-out animal, each scaled to its own range. For comparison, the in-silico neurons' ground-truth
# features are built from Gabor filters at {glue:text}`n_orientations`
# orientations and {glue:text}`n_sfs` spatial frequencies; the core's filters
# are only the first of its {glue:text}`n_layers` layers.

# %%
bank = simulator_config(scans[first]).features
glue("n_orientations", bank.n_orientations, display=False)
glue("n_sfs", len(bank.sf_cpd), display=False)
glue("n_layers", core.model.core.config.layers, display=False)
w = core.model.core.layers[0][0].weight.detach().cpu().numpy()[:, 0]
w = (w - w.min(axis=(1, 2), keepdims=True)) / (np.ptp(w, axis=(1, 2), keepdims=True) + 1e-12) * 255
fig, _ = plots.image_grid(w, ncols=min(16, len(w)), width=10)

# %% [markdown]
# The source cores were trained with the same recipe as every model in
# chapter 2; the first one's own scores on its training animals are shown
# below for reference (test tier).

# %%
_, source_summary, _ = evaluate(core.model, core.tensors, {s: scans[s] for s in core.tensors}, "test")
pd.Series({name: source_summary[k] for k, name in readouts.TABLE_METRICS.items()
           if k in source_summary}, name="source core").round(3).to_frame()

# %% [markdown]
# ## Neuron by neuron
#
# For the first held-out animal, each neuron's test correlation under transfer
# against under direct training, with the fewest and with all training images:
# above the diagonal, the transferred core predicts the neuron better.

# %%
fractions = [float(curve.fraction.min()), float(curve.fraction.max())]
fig, axes = plt.subplots(1, len(fractions), figsize=(10, 3.8))
for ax, f in zip(np.atleast_1d(axes), fractions):
    corr = {}
    for c in ("direct", "transfer"):
        fit = transfer.condition_fit(scans, profile, first, first_seed, f, c, core,
                                     results_dir=results_dir, device=device, model=gaussian)
        corr[c] = evaluate(fit.model, fit.tensors, {first: scans[first]}, "test")[0].single_trial_corr
    ax.scatter(corr["direct"], corr["transfer"], s=4, alpha=0.35)
    lo = float(min(corr["direct"].min(), corr["transfer"].min()))
    hi = float(max(corr["direct"].max(), corr["transfer"].max()))
    ax.plot([lo, hi], [lo, hi], "k:", lw=1)
    above = float((corr["transfer"] > corr["direct"]).mean())
    ax.set(xlabel="direct training: test correlation", ylabel="transfer: test correlation",
           title=f"{100 * f:.0f} % of the data: transfer ahead for {100 * above:.0f} % of neurons")

# %% [markdown]
# ## What this chapter shows
#
# The transferred core was trained on other animals' neurons and never saw the
# held-out animal; only its readout was fitted. Read off the curves above:

# %%
display(Markdown(transfer.transfer_summary_text(curve)))

# %% [markdown]
# Task-driven cores join this comparison in the MouseNet chapter.

# %% [markdown]
# The chapter's models and its paper's claims, with their verdicts, go to the
# book's ledger, which the closing chapter reads.

# %%
entries = transfer.ledger_entries(curve, dataset)
ledger.record("03_core_transfer", profile, *entries, results_dir=results_dir)
