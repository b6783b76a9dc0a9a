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
# # What drives these neurons
#
# **Question.** Once a model predicts a freely moving mouse's V1, can we read
# from it what each neuron responds to: which behavioural variables modulate
# it, and which image drives it most? {cite:t}`xu2023multimodal` took the
# gradient of each neuron's prediction with respect to the behavioural inputs
# (*saliency*) and classified neurons by the variables whose saliency stood out
# from the population's: on their second mouse,
# {glue:text}`xu_saliency_position:.0f` % of the neurons were strongly
# modulated by eye or head position, {glue:text}`xu_saliency_speed:.0f` % by
# running speed and {glue:text}`xu_saliency_pupil:.0f` % by the pupil, and
# {glue:text}`xu_saliency_mixed:.0f` % of the well-predicted neurons by two
# groups or more (*mixed selectivity*). They also optimised the image and the
# behaviour jointly to find each neuron's *maximally activating stimulus*
# (MAS).
#
# Neither analysis could be checked on real neurons. The simulated neurons of
# chapter 7 each have a known set of behavioural dependencies (eye and head
# position, speed, pupil, through gain fields and additive terms), a known
# receptive field and known gain weights, so here we score both against the
# truth. The models are chapter 7's full models (trained there, reloaded here).

# %% tags=["parameters"]
profile = "auto"
seed = 2018
device = "auto"
freely_moving_data = None
results_dir = None

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from v1lib import chapter
from v1lib.predict import predict_tier
from v1lib.studies import freely_moving as fm
from v1lib.studies import mas
from v1lib.studies import what_drives as wd
from v1lib.studies.static import replicates

prof, dataset, scans, device = chapter.setup(profile, freely_moving_data or fm.session_data(profile),
                                             results_dir, device)
chapter.glue_published(*(f"xu_saliency_{k}" for k in ("position", "speed", "pupil", "mixed")))
sizes = wd.analysis_settings(profile)
reps = replicates(scans, fm.settings(profile))
truth = all("gt_dependency" in scans[a] for a, _ in reps)
fits = {a: fm.fit_variant(scans, profile, "full", a, s, results_dir, device) for a, s in reps}
display(Markdown(
    f"Profile **{prof['name']}**; dataset **{dataset}**: the full model of each of "
    f"{len(fits)} animals; saliency over {sizes['saliency_bins']} test bins per animal; on "
    f"`{device}`."))

# %% [markdown]
# ## Saliency
#
# A neuron's saliency for a variable is the gradient of its prediction with
# respect to that variable, averaged over the test bins. The paper
# differentiates with respect to its 66 behavioural features and classifies on
# the variables (B) and their changes over one bin (B'). We take, for each
# variable, the gradient of its *level* (the variable held at one value: its
# whole effect, directly, through its products with the others and, for the eye
# and head angles, through the shifter's warp of the image) and of its
# *change* (`d_`), which for the full model of one frame are exactly the
# gradients with respect to B and B'. Below, the first animal's saliencies,
# z-scored across neurons as the paper does, with a dot where the simulator
# says the neuron truly depends on the variable's group.

# %%
sal, scores, mean_pred = {}, {}, {}
for a, fit in fits.items():
    sal[a] = wd.behavior_saliency(fit.model, fit.tensors, a, max_bins=sizes["saliency_bins"],
                                  seed=seed)
    scores[a] = fm.neuron_scores(fit, scans[a], "full")
    mean_pred[a] = predict_tier(fit.model, fit.tensors, "test")[a].mean(0).cpu().numpy()

a0 = reps[0][0]
classes0 = wd.classify(sal[a0], scores[a0].smoothed_corr.values >= wd.WELL_FIT_R)
z = classes0.z.values
order = np.argsort(classes0.category.values, kind="stable")
fig, ax = plt.subplots(figsize=(8, 3.2))
im = ax.imshow(z[order].T, aspect="auto", cmap="coolwarm", vmin=-3, vmax=3)
ax.set_yticks(range(len(classes0.behavior_var)), classes0.behavior_var.values, fontsize=8)
ax.set_xlabel("neuron (grouped by category)")
if truth:
    dep = scans[a0].gt_dependency
    for k, var in enumerate(classes0.behavior_var.values):
        group = next(g for g, vs in wd.BEHAVIOR_GROUPS.items() if var.removeprefix("d_") in vs)
        hit = np.flatnonzero(dep.sel(dependency_group=group).values[order])
        ax.scatter(hit, np.full(len(hit), k), s=4, color="k")
fig.colorbar(im, ax=ax, label="saliency (z across neurons)");

# %% [markdown]
# ## The paper's classification
#
# A neuron is *modulated* by a group (position: head pitch and roll and eye
# θ and φ; speed; pupil) if any of its variables, or their changes, has
# |z| ≥ 1; its category is the one group, *mixed* for two or more (or, as in
# the paper, head and eye position together), or *none*. Panel a of the paper's
# figure counts all neurons; panel b the well-predicted ones (smoothed test
# r ≥ 0.25). Our numbers pool the animals; the paper's are its mouse 2.

# %%
# panel b of the paper counts head and eye position together as mixed
classes = {a: wd.classify(sal[a], scores[a].smoothed_corr.values >= wd.WELL_FIT_R, head_eye=True)
           for a in fits}
table = wd.paper_comparison(list(classes.values()))
n_all, n_fit = table.attrs["n_neurons"], table.attrs["n_well_fit"]
display(Markdown(f"{n_all} neurons in {len(fits)} animals, {n_fit} of them well fit."))
table

# %%
fig, ax = plt.subplots(figsize=(8, 3))
x = np.arange(len(table))
paper_pct = pd.to_numeric(table["paper, mouse 2 (%)"], errors="coerce")
ax.bar(x - 0.2, table["ours (%)"].astype(float), 0.4, label="ours (all animals)")
ax.bar(x + 0.2, paper_pct, 0.4, label="paper (mouse 2)", color="C3")
ax.set_xticks(x, [i.replace(" (of", "\n(of") for i in table.index], fontsize=7)
ax.set_ylabel("neurons (%)")
ax.legend(fontsize=8);

# %% [markdown]
# ## Against the truth
#
# How often is a neuron the classification calls modulated by a group truly
# modulated by it (*precision*), and how many of the truly modulated neurons
# does it find (*recall*)? The *prevalence*, the fraction of neurons truly in a
# class, is the precision of a guess. The simulator's dependencies are its
# gain fields and additive terms; the eye also moves every neuron's retinal
# image, which the saliency through the shifter sees for visual neurons too. So
# against the truth we take the saliency of the behaviour stream alone (not
# through the shifter), and count head and eye position as one group. Pooled
# over animals, all neurons:

# %%
if truth:
    stream = {a: wd.behavior_saliency(fit.model, fit.tensors, a, max_bins=sizes["saliency_bins"],
                                      seed=seed, shifter=False) for a, fit in fits.items()}
    well = {a: scores[a].smoothed_corr.values >= wd.WELL_FIT_R for a in fits}
    judged = {a: wd.classify(stream[a], well[a]) for a in fits}
    recovery = wd.pooled_recovery([wd.dependency_recovery(c, scans[a]) for a, c in judged.items()],
                                  n_all)
    display(recovery.round(2))
else:
    display(Markdown("These data hold no ground truth (`gt_dependency`): the classification "
                     "cannot be scored."))

# %% [markdown]
# The paper's rule is relative: a |z| ≥ 1 across neurons marks a saliency far
# from the population's mean, not far from zero. Where most neurons depend on a
# variable in the same direction (speed raises most gains), the rule flags
# only the extremes, and where almost none do, it still flags about a third.
# An absolute rule reads the effect itself: the change of the predicted
# response per SD of a variable, as a fraction of the neuron's mean prediction,
# with modulation meaning at least 10 %.

# %%
if truth:
    effect = {a: wd.relative_effect(stream[a], mean_pred[a]) for a in fits}
    absolute = {a: wd.classify(effect[a], well[a], threshold=0.1, standardise=False)
                for a in fits}
    by_effect = wd.pooled_recovery([wd.dependency_recovery(c, scans[a])
                                    for a, c in absolute.items()], n_all)
    both = pd.concat({"paper's rule (|z| >= 1)": recovery[["precision", "recall"]],
                      "effect >= 10 %": by_effect[["precision", "recall"]],
                      "truth": recovery[["prevalence"]]}, axis=1)
    display(both.round(2))
    better = [g for g in ("position", "speed", "pupil")
              if by_effect.recall[g] + by_effect.precision[g]
              > recovery.recall[g] + recovery.precision[g]]
    display(Markdown(
        "In these pooled counts (one number per rule, no interval), the absolute rule scores "
        "higher (precision + recall) than the paper's relative rule for "
        + (", ".join(better) if better else "no group") + ". "
        f"The paper's rule finds {100 * recovery.recall['mixed']:.0f} % of the truly mixed "
        f"neurons, with a precision of {100 * recovery.precision['mixed']:.0f} % "
        f"(prevalence {100 * recovery.prevalence['mixed']:.0f} %)."))

# %% [markdown]
# ## Maximally activating stimuli
#
# For the best-predicted visual neurons of the first animal, the image (and
# behaviour) that drive the model's prediction highest: gradient ascent from
# random starts with a penalty on the image's roughness (the paper's settings;
# we average fewer restarts). Beside each, the *true* preferred stimulus: the
# same ascent on the simulated neuron's own visual drive, seen at the same
# (mean) eye position, from other random starts. The model's MAS here holds
# the behaviour at its mean;
# the jointly optimised behaviour is compared with the neuron's true gain
# field below.

# %%
ds0, fit0 = scans[a0], fits[a0]
r0 = scores[a0].smoothed_corr.values
visual = ds0.gt_dependency.sel(dependency_group="visual").values if truth else np.ones(len(r0), bool)
best = [int(k) for k in np.argsort(-np.where(visual, r0, -np.inf))[:sizes["mas_neurons"]]]
shape = (ds0.sizes["y"], ds0.sizes["x"])
still = mas.maximally_activating(fit0.model, a0, best, steps=sizes["mas_steps"],
                                 restarts=sizes["mas_restarts"], seed=seed, behavior=False,
                                 shape=shape)
joint = mas.maximally_activating(fit0.model, a0, best, steps=sizes["mas_steps"],
                                 restarts=sizes["mas_restarts"], seed=seed, shape=shape)
rows = [still.mas.values]
if truth:
    # other random starts than the model's: shared starts would correlate the two by themselves
    true_pref = mas.true_preferred_stimulus(ds0, best, steps=sizes["mas_steps"],
                                            restarts=sizes["truth_restarts"], seed=seed + 1,
                                            behavior=still.behavior)
    rows.append(true_pref.preferred.values)
fig, axes = plt.subplots(len(rows), len(best), figsize=(1.6 * len(best), 1.3 * len(rows) + 0.4),
                         squeeze=False)
for i, row in enumerate(rows):
    for j, img in enumerate(row):
        v = np.abs(img).max() or 1.0
        axes[i, j].imshow(img, cmap="coolwarm", vmin=-v, vmax=v)
        axes[i, j].set_xticks([])
        axes[i, j].set_yticks([])
        if i == 0:
            axes[i, j].set_title(f"neuron {best[j]}\nr = {r0[best[j]]:.2f}", fontsize=8)
axes[0, 0].set_ylabel("model MAS", fontsize=8)
if truth:
    axes[1, 0].set_ylabel("true", fontsize=8)

# %%
if truth:
    agree = mas.mas_agreement(still, true_pref)
    gains = mas.mas_agreement(joint, true_pref)
    has_gain = np.abs(true_pref.gain_weights.sel(neuron=gains.neuron).values).sum(1) > 0
    has_gain &= np.isfinite(gains.behavior_corr.values)
    display(Markdown(
        f"Pixel correlation of the model's MAS with the true preferred stimulus: median "
        f"{float(np.median(agree.image_corr)):.2f} (range {float(agree.image_corr.min()):.2f} to "
        f"{float(agree.image_corr.max()):.2f}) over {len(best)} neurons. Correlation across the "
        f"six variables of the jointly optimised behaviour with the true gain weights: median "
        f"{float(np.nanmedian(gains.behavior_corr.values[has_gain])):.2f} over the "
        f"{int(has_gain.sum())} of these neurons that have a gain field."
        if has_gain.any() else "None of these neurons has a gain field."))
