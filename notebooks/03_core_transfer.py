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
from myst_nb import glue

from v1lib import chapter, plots
from v1lib.evaluation import evaluate
from v1lib.published import PUBLISHED
from v1lib.sim.static import simulator_config
from v1lib.stats import mean_sem
from v1lib.studies import readouts, transfer
from v1lib.studies.static import study_settings, variant_config

prof, dataset, scans, device = chapter.setup(profile, data, results_dir, device)
chapter.glue_published("transfer_gain", "transfer_data_fraction")
settings = study_settings(profile)
_, base_cfg = variant_config(profile, "gaussian")
# the held-out animal is chapter 2's first; where chapter 2 trains on that scan
# alone (comparison_scans: 1), its Gaussian + grid models are this chapter's
# direct models with all data, reloaded from the model cache
target = list(scans)[0]
display(Markdown(
    f"Profile **{prof['name']}**; dataset **{dataset}**. Core trained on "
    f"{', '.join(s for s in scans if s != target)}; held-out animal **{target}** "
    f"({scans[target].sizes['neuron']} neurons, "
    f"{int((scans[target].tier == 'train').sum())} training images); fractions "
    f"{settings['fractions']}; seeds {settings['transfer_seeds']}; on `{device}`."))

# %% [markdown]
# ## The data-efficiency curve

# %%
curve, core = transfer.transfer_curve(scans, profile, target, results_dir=results_dir, device=device)

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for ax, key, label in ((axes[0], "fraction_oracle", "fraction oracle"),
                       (axes[1], "gt_observable_ceiling_fraction",
                        "fraction of the observable ceiling")):
    for c, color in (("direct", "C0"), ("transfer", "C1")):
        m, e = mean_sem(curve[key].sel(condition=c))
        n = curve.n_train_images.sel(condition=c).mean("seed")
        ax.errorbar(n, m, yerr=e, marker="o", color=color, label=c, capsize=3)
    ax.set(xscale="log", xlabel="training images of the held-out animal", ylabel=label, title=label)
    ax.set_xticks(n.values, [f"{int(v):,}" for v in n.values], minor=False)
    ax.minorticks_off()
    ax.legend(fontsize=8)

# %% [markdown]
# The same comparison as a relative change, seed by seed: how much better (or
# worse) the transferred core does than direct training at each amount of data.

# %%
rel = transfer.transfer_gain(curve)  # %, per fraction and seed
n_img = curve.n_train_images.sel(condition="direct").mean("seed")
fig, ax = plt.subplots(figsize=(6, 3.2))
for s in rel.seed.values:
    ax.plot(n_img, rel.sel(seed=s), marker="o", alpha=0.6, label=f"seed {s}")
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
display(Markdown(transfer.transfer_budget_text(core, base_cfg.max_epochs)))

# %% [markdown]
# What was transferred: the first-layer filters of the source core, each
# scaled to its own range. For comparison, the in-silico neurons' ground-truth
# features are built from Gabor filters at {glue:text}`n_orientations`
# orientations and {glue:text}`n_sfs` spatial frequencies; the core's filters
# are only the first of its {glue:text}`n_layers` layers.

# %%
bank = simulator_config(scans[target]).features
glue("n_orientations", bank.n_orientations, display=False)
glue("n_sfs", len(bank.sf_cpd), display=False)
glue("n_layers", core.model.core.config.layers, display=False)
w = core.model.core.layers[0][0].weight.detach().cpu().numpy()[:, 0]
w = (w - w.min(axis=(1, 2), keepdims=True)) / (np.ptp(w, axis=(1, 2), keepdims=True) + 1e-12) * 255
fig, _ = plots.image_grid(w, ncols=min(16, len(w)), width=10)

# %% [markdown]
# The transfer core was trained with the same recipe as every model in
# chapter 2; the source core's own scores on its training animals are shown
# below for reference (test tier).

# %%
_, source_summary, _ = evaluate(core.model, core.tensors, {s: scans[s] for s in core.tensors}, "test")
pd.Series({name: source_summary[k] for k, name in readouts.TABLE_METRICS.items()
           if k in source_summary}, name="source core").round(3).to_frame()

# %% [markdown]
# ## What this chapter shows
#
# The transferred core was trained on other animals' neurons and never saw the
# held-out animal; only its readout was fitted. Read off the curves above:

# %%
display(Markdown(transfer.transfer_summary_text(curve)))

# %% [markdown]
# Task-driven cores join this comparison in the MouseNet chapter.
