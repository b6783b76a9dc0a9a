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
# # An in-silico mouse V1
#
# **Question.** Every model in this book is judged by how well it predicts the
# responses of neurons in mouse primary visual cortex (V1). On real recordings we
# can only compare models with each other and with the noise ceiling; we never
# know what the neurons actually compute. What would we learn if we did?
#
# This chapter builds the dataset that answers that: an *in-silico mouse V1*
# whose neurons we wrote ourselves, recorded the way the Sensorium 2022
# experiments were recorded {cite:p}`willeke2022sensorium`. It is the data every
# later chapter uses by default, because the real datasets cannot be fetched on
# the machines that build this book, and because it lets each analysis be checked
# against ground truth, which none of the original papers
# {cite:p}`sinz2018stimulus,lurz2021generalization,xu2023multimodal,shi2022mousenet`
# could do.
#
# What is simulated, and why:
#
# | part | how | why it matters for the models |
# |---|---|---|
# | stimuli | crops of photographs from two packages, grouped into scenes (validation and test scenes shared by all animals, each animal's own training scenes), dead-leaves images, 1/f noise; 36×64 px, 1.5°/px | natural statistics, as in the Sensorium image sets; test images and a held-out animal's training images are crops of photographs the other animals never trained on |
# | features | Gabor quadrature filters (8 orientations × 3 spatial frequencies) → simple, complex and *corner* units, with divisive normalisation and surround suppression | the nonlinear computations a CNN core has to learn; corner units are AND-like and escape every linear-nonlinear model |
# | neurons | cortical positions in a 630 µm field of view; a smooth retinotopic map with scatter; each neuron pools one to three features around its receptive field (RF) centre, then a rectifying nonlinearity | what the readout has to find: an RF position (retinotopy) and feature weights |
# | behaviour | running bouts, pupil dilation and its derivative, a latent brain state, all multiplying the gain; eye position shifting every RF | what the shifter and the modulator have to recover |
# | noise | compound Poisson–gamma "calcium events" | non-negative, heavy-tailed responses with many zeros, like deconvolved calcium activity |
#
# Everything is deterministic given the simulator's configuration and seed.

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

from v1lib import chapter, plots, probes
from v1lib.cache import cached_result
from v1lib.chapter import glue
from v1lib.sim import calibration, photographs, static, stimuli

prof, dataset, scans, device = chapter.setup(profile, data, results_dir, device)
rng = np.random.default_rng(seed)
data_key = {"data": dataset, "data_hash": next(iter(scans.values())).attrs.get("config_hash", "")}
display(Markdown(f"Profile **{prof['name']}** ({prof['description']}); dataset **{dataset}**."))

# %% [markdown]
# ## The recordings
#
# Each scan is one animal: its own neurons, its own retinotopic map, its own
# images. Test images are shown ten times each (interleaved with the rest), which
# is what the oracle and the explainable variance need.

# %%
rows = []
for name, ds in scans.items():
    tiers = pd.Series(ds.tier.values).value_counts()
    rows.append({"scan": name, "neurons": ds.sizes["neuron"], **tiers.to_dict(),
                 "test images": len(np.unique(ds.image_id.values[ds.tier.values == "test"]))})
pd.DataFrame(rows).set_index("scan")

# %% [markdown]
# ## Stimuli
#
# Natural images are crops of photographs that ship inside two Python
# packages: scikit-image {cite:p}`vanderwalt2014scikit` and mvtb-data, the
# data package of the Machine Vision Toolbox for Python
# {cite:p}`corke2023robotics` (buildings, streets, a campus, parks, flowers,
# aerial views, objects on a table). `data_manifest.yaml` records each
# package's files and their licences. Each photograph is made grey and its
# shorter side reduced to at most 512 px, once, when it is read; the crops vary
# in scale, position and flip.
#
# Photographs of one place or object (a stereo pair, a sequence, a walk around
# one campus) form a *scene*, and scenes, not photographs, are split
# (`v1lib.sim.photographs`). The validation and the test images of every
# animal are crops of their own scenes, shared by all animals; no model trains
# on them. The other scenes are dealt into disjoint parts (`photo_parts` of the
# simulator's configuration), and each animal's training images are crops of
# its own part. So no test image is a crop of a photograph that a training
# image comes from (the check below measures it), and no two animals train on
# the same photographs: in the leave-one-animal-out transfer of chapter 3, the
# held-out animal's training images are crops of photographs that the core,
# trained on the other animals, has never seen, and the foreign animal of its
# negative control trains on a part that no animal of its dataset uses.

# %%
cfg = static.simulator_config(next(iter(scans.values())))
split = [{"images": f"{tier}, every animal", "scenes": len(photographs.SCENE_POOLS[tier]),
          "photographs": len(photographs.PHOTO_POOLS[tier]),
          "which": ", ".join(photographs.SCENE_POOLS[tier])} for tier in ("validation", "test")]
for name, ds in scans.items():
    part = int(ds.attrs["photo_part"])
    scenes = photographs.training_parts(cfg.photo_parts)[part]
    split.append({"images": f"train, {name} (part {part + 1} of {cfg.photo_parts})",
                  "scenes": len(scenes), "photographs": len(photographs.scene_photographs(scenes)),
                  "which": ", ".join(scenes)})
glue("n_photos", len(photographs.PHOTOGRAPHS), display=False)
glue("n_scenes", len(photographs.SCENES), display=False)
glue("n_train_scenes", len(photographs.TRAINING_SCENES), display=False)
pd.DataFrame(split).set_index("images")

# %% [markdown]
# The {glue:text}`n_photos` photographs form {glue:text}`n_scenes` scenes, of
# which {glue:text}`n_train_scenes` are training scenes. A crop draws a scene
# of its pool first and then one of the scene's photographs, so a scene of
# many photographs weighs as much as a scene of one.
#
# Two synthetic classes share their second-order statistics with the natural
# images: dead-leaves images (occluding discs with a scale-invariant size
# distribution, {cite:t}`lee2001occlusion`) and Gaussian noise with a 1/f
# amplitude spectrum {cite:p}`field1987relations`. All are greyscale, 36×64
# pixels, like the downsampled Sensorium images.

# %%
ds0 = next(iter(scans.values()))
classes = ["natural", "dead_leaves", "pink_noise"]
picks = [rng.choice(np.flatnonzero(ds0.image_class.values == c), 4, replace=False) for c in classes]
idx = np.concatenate(picks)
fig, _ = plots.image_grid(ds0.images.values[idx], [ds0.image_class.values[i].replace("_", " ")
                                                   for i in idx], ncols=6)

# %% [markdown]
# Near-duplicates across tiers would let a model score on test images it has, in
# effect, seen. For every natural test image, its highest pixel correlation with
# any natural training image of the same scan:

# %%
pix = {t: static.unique_images(ds0, t, "natural") for t in ("train", "test")}
nearest = stimuli.nearest_correlation(pix["test"], pix["train"])
glue("dup_max", float(nearest.max()), display=False)
glue("dup_above", float((nearest > 0.8).mean() * 100), display=False)
fig, ax = plt.subplots(figsize=(5, 2.6))
ax.hist(nearest, bins=30, color="C0")
ax.axvline(0.8, color="k", ls="--", lw=1)
ax.set(xlabel="highest pixel correlation with a training image", ylabel="test images",
       title="natural test images vs training images");

# %% [markdown]
# The highest correlation is {glue:text}`dup_max:.2f`; {glue:text}`dup_above:.1f` %
# of the natural test images have a training image correlated above 0.8 (dashed).

# %% [markdown]
# The amplitude spectra of natural images fall off as about 1/f
# {cite:p}`field1987relations`. The slope of log amplitude against log spatial
# frequency, per image class:

# %%
slopes = []
for c in classes:
    sel = np.flatnonzero(ds0.image_class.values == c)[:200]
    s = stimuli.amplitude_spectrum_slope(ds0.images.values[sel].astype(float))
    slopes.append({"class": c.replace("_", " "), "images": len(sel),
                   "slope (mean)": s.mean(), "slope (SD)": s.std()})
pd.DataFrame(slopes).set_index("class").round(2)

# %% [markdown]
# All three classes fall off steeply with frequency, like natural scenes
# (around −1 in {cite:t}`field1987relations`; white noise has slope 0). The
# natural crops are steepest because downsampling the photographs to 36×64
# removes their finest detail. The synthetic images therefore differ from the
# natural ones less in their second-order statistics than in higher-order
# structure (edges, occlusions, objects).
#
# ## Retinotopy
#
# Neurons sit at cortical positions (µm). A smooth map with one rotation and a
# gentle bend per animal, plus a scatter of a few degrees, places each RF centre
# on the screen. This is the structure that the Gaussian readout's grid
# predictor {cite:p}`lurz2021generalization` exploits.

# %%
fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
for ax, key, label in ((axes[0], "gt_rf_x", "RF azimuth (px)"), (axes[1], "gt_rf_y", "RF elevation (px)")):
    sc = ax.scatter(ds0.cortical_x, ds0.cortical_y, c=ds0[key], s=6, cmap="viridis")
    ax.set(xlabel="cortical x (µm)", ylabel="cortical y (µm)", aspect="equal",
           title=f"{ds0.attrs['scan']}: {label.split(' (')[0]}")
    fig.colorbar(sc, ax=ax, label=label, shrink=0.8)
for name, ds in scans.items():
    axes[2].scatter(ds.gt_rf_x, ds.gt_rf_y, s=3, alpha=0.5, label=name)
h, w = ds0.sizes["y"], ds0.sizes["x"]
axes[2].set(xlim=(0, w - 1), ylim=(h - 1, 0), aspect="equal", xlabel="screen x (px)",
            ylabel="screen y (px)", title="RF centres, all animals")
axes[2].legend(fontsize=7, markerscale=3, loc="lower right");

# %% [markdown]
# How smooth is the map? A linear function of cortical position explains most of
# the variance of the RF centres; what remains is the bend and the scatter.

# %%
def linear_r2(ds, key):
    X = np.c_[ds.cortical_x, ds.cortical_y, np.ones(ds.sizes["neuron"])]
    y = ds[key].values
    res = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    return 1 - res.var() / y.var()

pd.DataFrame([{"scan": n, "R² azimuth": linear_r2(ds, "gt_rf_x"),
               "R² elevation": linear_r2(ds, "gt_rf_y")} for n, ds in scans.items()]
             ).set_index("scan").round(3)

# %% [markdown]
# ## Mechanisms outside the model class
#
# If the simulated neurons were built exactly like the models of the next
# chapters (one shared feature map read at one point per neuron, an eye shift
# that translates every RF, a log-linear gain after the nonlinearity), those
# models would be favoured by construction, and recovering the truth would only
# test a correctly specified model. So each neuron also has mechanisms that no
# model of this book can express (`v1lib.sim.population`):
#
# * **spatial extent and surround**: the primary feature is pooled along its
#   stripes, and same-orientation energy on a ring around the RF is subtracted;
# * **several features at several positions**: up to two extra features of any
#   orientation, frequency and type, a few pixels from the RF centre;
# * **features outside the bank**: a fraction of neurons respond to a luminance
#   centre-surround feature (ON or OFF) that the feature bank does not contain;
# * **behaviour before and beside the gain**: behaviour shifts the drive before
#   the output nonlinearity and adds to the response after it, besides the
#   log-linear gain;
# * **eye effects that are not a translation**: a rotation of the RF positions
#   about the screen centre with vertical eye position (a torsion), and an
#   eye-position gain field.
#
# The manifest's *well-specified twins* (`insilico-static-well-specified`)
# switch all of them off: same animals, images and behaviour. Chapter 2 trains
# its key comparison in both worlds.

# %%
mech = pd.DataFrame([{
    "scan": n,
    "ON / OFF luminance neurons (%)": 100 * float((ds.gt_outside_bank != 0).mean()),
    "surround weight (median)": float(ds.gt_surround_weight.median()),
    "torsion (deg per SD of pupil y)": float(np.rad2deg(ds.attrs["gt_torsion_per_sd"])),
    "behaviour on the drive (median |weight|, SD)": float(np.abs(ds.gt_behavior_drive_weights).median()),
} for n, ds in scans.items()]).set_index("scan")
gain_r2 = static.log_gain_r2(ds0)
glue("gain_r2", float(np.median(gain_r2)), display=False)
glue("gain_r2_low", float(np.mean(gain_r2 < 0.9) * 100), display=False)
mech.round(2)

# %% [markdown]
# How far is this from a log-linear gain? Regressing each neuron's log ratio of
# its observable rate to its rate at unit gain on the z-scored behaviour and
# pupil position explains a median R² of {glue:text}`gain_r2:.3f` of its
# variance (1 in the well-specified world, up to the clipping of extreme
# gains), and under 0.9 for
# {glue:text}`gain_r2_low:.0f` % of the neurons.
#
# ## Ground-truth tuning
#
# Because the neurons are known, we can show them gratings, something the
# recorded animals of the static-image experiments never saw. Orientation
# tuning curves of example neurons of each type, at their preferred spatial
# frequency, averaged over the grating's phase (solid) and at the best and worst
# phase (shaded):

# %%
pops = static.populations_of(scans)
pop = pops[ds0.attrs["scan"]]
truth = static.responder(pop)  # the true neurons, probed like a model
responsive = np.flatnonzero(pop.responsive)
examples = [rng.choice(responsive[pop.feature_type[responsive] == t]) for t in ("simple", "complex", "corner")]
tun = probes.orientation_tuning(truth, examples, pop.sf[examples])
fig, axes = plt.subplots(1, 3, figsize=(11, 3), sharex=True)
for ax, n in zip(axes, examples):
    t = tun.sel(neuron=n)
    ax.plot(t.orientation, t.mean("phase"), color=plots.PALETTE[pop.feature_type[n]])
    ax.fill_between(t.orientation, t.min("phase"), t.max("phase"), alpha=0.25,
                    color=plots.PALETTE[pop.feature_type[n]])
    ax.axvline(pop.orientation[n], ls=":", color="k", lw=1)
    ax.set(title=f"{pop.feature_type[n]} neuron {n}", xlabel="grating orientation (deg)",
           ylabel="rate (a.u.)", xticks=[0, 45, 90, 135])

# %% [markdown]
# The dotted line marks the true preferred orientation of the neuron's primary
# feature. Simple cells are strongly modulated by phase (wide band), complex
# cells are not (narrow band). The same measurement over many neurons, against
# the truth:

# %%
bank_driven = np.flatnonzero(pop.responsive & (pop.outside_sign == 0))  # tuned to a bank feature
sample = np.sort(rng.choice(bank_driven, size=min(300, len(bank_driven)), replace=False))
survey = cached_result(results_dir, "ch01/tuning_survey", {**data_key, "neurons": sample.tolist()},
                       seed, lambda: probes.tuning_survey(truth, sample, pop.orientation[sample],
                                                          pop.sf[sample]), code=(probes, static))
types = pop.feature_type[survey.neuron.values]
err = survey.orientation_error.values
fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
signed = (survey.preferred_orientation - survey.true_orientation + 90) % 180 - 90  # circular
axes[0].scatter(survey.true_orientation, survey.true_orientation + signed, s=8,
                c=[plots.PALETTE[t] for t in types])
axes[0].set(xlabel="true preferred orientation (deg)", ylabel="measured (deg)", title="preferred orientation")
for t in ("simple", "complex", "corner"):
    m = types == t
    axes[1].hist(survey.osi.values[m], bins=20, range=(0, 1), alpha=0.6, label=t, color=plots.PALETTE[t])
    axes[2].hist(survey.phase_modulation.values[m], bins=20, range=(0, 1), alpha=0.6, label=t,
                 color=plots.PALETTE[t])
axes[1].set(xlabel="orientation selectivity index", ylabel="neurons", title="selectivity")
axes[2].set(xlabel="phase modulation (max−min)/(max+min)", ylabel="neurons", title="simple vs complex")
axes[2].legend(fontsize=8)
glue("median_ori_error", float(np.median(err[types != "corner"])), display=False)
glue("pm_simple", float(np.median(survey.phase_modulation.values[types == "simple"])), display=False)
glue("pm_complex", float(np.median(survey.phase_modulation.values[types == "complex"])), display=False)

# %% [markdown]
# For simple and complex cells the grating measurement recovers the true
# preferred orientation with a median error of
# {glue:text}`median_ori_error:.1f`° (plotted circularly: 0° and 180° are the same
# orientation). Corner units (purple) prefer two orthogonal orientations at
# once, so their selectivity index is low and their single "preferred
# orientation" is ill-defined. The median phase modulation is
# {glue:text}`pm_simple:.2f` for simple and {glue:text}`pm_complex:.2f` for
# complex cells. These are the checks that the in-silico tuning experiments of
# later chapters (on *trained models*) will be held to.
#
# Corner units respond to the conjunction of two orthogonal orientations. A plaid
# (the preferred grating plus the orthogonal one) drives them far more than
# either component, the opposite of the cross-orientation suppression that
# divisive normalisation gives simple and complex cells:

# %%
ratio = survey.plaid_ratio
fig, ax = plt.subplots(figsize=(5, 3))
for t in ("simple", "complex", "corner"):
    ax.hist(np.log2(ratio.values[types == t]), bins=30, range=(-3, 5), alpha=0.6,
            label=t, color=plots.PALETTE[t])
ax.axvline(0, color="k", lw=1)
ax.set(xlabel="log2(plaid / preferred grating)", ylabel="neurons", title="plaid test")
ax.legend(fontsize=8);

# %% [markdown]
# ### How mouse-like is the tuning?
#
# The neurons are meant to stand in for mouse V1, so their spatial tuning
# should resemble it. The preferred spatial frequencies and the widths of the
# receptive fields (the full width at half maximum of the primary feature's
# Gaussian envelope) of the responsive neurons:

# %%
real = calibration.tuning_realism(pop)
for k in ("median_sf", "median_fwhm"):
    glue(k, real[k], display=False)
glue("fwhm_coarse", real["fwhm"][min(real["fwhm"])], display=False)
glue("screen_height", real["screen_deg"][0], display=False)
pd.DataFrame({"share of neurons (%)": {f: 100 * v for f, v in real["sf_share"].items()},
              "RF width, FWHM (deg)": real["fwhm"]}).rename_axis("spatial frequency (cyc/deg)").round(1)

# %% [markdown]
# The median preferred frequency is {glue:text}`median_sf:.2f` cyc/deg, finer
# than the about 0.04 cyc/deg that mouse V1 neurons prefer
# {cite:p}`niell2008highly`, and the bank has three frequencies only. The
# median RF is {glue:text}`median_fwhm:.0f`° wide, but at the coarsest
# frequency the envelope is {glue:text}`fwhm_coarse:.0f`° wide on a screen
# {glue:text}`screen_height:.0f`° tall: these neurons see most of the screen,
# wider than most mouse V1 receptive fields. And the complex cells are ideal
# energy units (their phase modulation is near zero, above), where real
# complex cells shade into simple ones. These departures are left as they are:
# every comparison in this book is between models trained on the same data,
# and the ground truth says what each model misses. Calibrating the simulator
# to real distributions (of preferred frequency, RF size, oracle correlation
# and explainable variance) would need those distributions, and the sources of
# this book give them only as means.
#
# ## Behaviour and eye position
#
# The mouse runs in bouts; the pupil dilates with running and drifts with
# arousal {cite:p}`niell2010modulation,reimer2014pupil`; a latent brain state
# adds gain fluctuations that no recorded variable captures; the eye wanders,
# shifting every RF on the screen by the same amount.

# %%
b = ds0.behavior
order = np.argsort(ds0.trial.values)[:800]
fig, axes = plt.subplots(4, 1, figsize=(10, 6), sharex=True)
axes[0].plot(b.sel(behavior_var="running")[order], lw=0.8)
axes[0].set_ylabel("running\n(cm/s)")
axes[1].plot(b.sel(behavior_var="pupil")[order], lw=0.8, color="C1")
axes[1].set_ylabel("pupil\n(camera px)")
axes[2].plot(ds0.gt_eye_shift.sel(eye_axis="x")[order], lw=0.8, label="x")
axes[2].plot(ds0.gt_eye_shift.sel(eye_axis="y")[order], lw=0.8, label="y")
axes[2].set_ylabel("RF shift\n(px)")
axes[2].legend(fontsize=7, ncol=2, loc="upper right")
axes[3].plot(ds0.gt_state[order], lw=0.8, color="C3")
axes[3].set(ylabel="latent state\n(SD)", xlabel="trial (presentation order)");

# %% [markdown]
# Each neuron's log-gain is a weighted sum of the z-scored behaviour and the
# latent state. The weights are stored with the data (`gt_behavior_weights`),
# so a model's modulator can be checked against them:

# %%
wts = ds0.gt_behavior_weights.to_pandas()
fig, ax = plt.subplots(figsize=(5, 3))
ax.boxplot([wts[c] for c in wts.columns], tick_labels=list(wts.columns))
ax.axhline(0, color="k", lw=0.8)
ax.set(ylabel="log-gain per SD", title="ground-truth behaviour weights");

# %% [markdown]
# ## Responses
#
# Deconvolved calcium activity is non-negative, heavy-tailed and zero on most
# trials. The simulated responses are drawn from a compound Poisson–gamma
# distribution: a Poisson number of "events", each of gamma-distributed size.
# Its variance grows with the mean, as for real neurons.

# %%
test = ds0.where(ds0.tier == "test", drop=True)
resp = ds0.responses.values
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
pos = resp[resp > 0]
axes[0].hist(pos, bins=np.geomspace(pos.min(), pos.max(), 60), color="C0")
axes[0].set(xscale="log", yscale="log", xlabel="response (a.u., non-zero trials)", ylabel="trials",
            title=f"{(resp == 0).mean():.0%} of responses are exactly zero")
groups = [np.flatnonzero(test.image_id.values == i) for i in np.unique(test.image_id.values)]
means = np.stack([test.responses.values[g].mean(0) for g in groups]).ravel()
vars_ = np.stack([test.responses.values[g].var(0, ddof=1) for g in groups]).ravel()
keep = means > 0
axes[1].scatter(means[keep], vars_[keep], s=2, alpha=0.2)
axes[1].set(xscale="log", yscale="log", xlabel="mean over repeats (a.u.)",
            ylabel="variance over repeats", title="test images: mean vs variance");

# %% [markdown]
# ## Calibration against Sensorium 2022
#
# How reliable should the simulated neurons be? The best-documented anchor is
# the Sensorium 2022 CNN trained on seven scans, scored on the test tier of scan
# 21067-10-18 {cite:p}`willeke2022sensorium`: single-trial correlation
# {glue:text}`sensorium2022_cnn_single_trial_corr:.3f`, correlation to average
# {glue:text}`sensorium2022_cnn_corr_to_avg:.3f`, FEVE
# {glue:text}`sensorium2022_cnn_feve:.3f`. If that model explains a fraction
# FEVE of the explainable variance, correlations shrink by about its square
# root, which *implies* the ceiling a perfect image-computable model would reach
# on those data. The simulator's noise level was calibrated against that
# ceiling; the table sets the in-silico image-only ceiling beside it.

# %%
rel = cached_result(results_dir, "ch01/reliability", data_key, seed,
                    lambda: calibration.population_reliability(scans), code=(calibration,))
ours = calibration.summary(rel)
chapter.glue_published("sensorium2022_cnn_single_trial_corr", "sensorium2022_cnn_corr_to_avg",
                       "sensorium2022_cnn_feve")
implied = calibration.implied_ceiling()
ref = calibration.SENSORIUM_2022_CNN
nan = float("nan")  # Sensorium reports correlations over all neurons only
table = pd.DataFrame({
    "Sensorium 2022 CNN (reported)": [ref["single_trial_corr"], ref["corr_to_avg"], nan, nan,
                                      ref["feve"]],
    "implied image-computable ceiling": [implied["single_trial_corr"], implied["corr_to_avg"],
                                         nan, nan, 1.0],
    "in-silico ceiling (ground truth, image only)": [
        ours["image_ceiling_single_trial_corr"], ours["image_ceiling_corr_to_avg"],
        ours["image_ceiling_single_trial_corr_reliable"], ours["image_ceiling_corr_to_avg_reliable"],
        ours["image_ceiling_feve"]],
}, index=["single-trial correlation (all neurons)", "correlation to average (all neurons)",
          "single-trial correlation (FEV ≥ 0.15)", "correlation to average (FEV ≥ 0.15)",
          "FEVE (FEV ≥ 0.15)"])
table.round(3)

# %% [markdown]
# The image-only ceiling is the exact expected response to each image,
# E[rate | image], over the eye positions, behaviour and brain states of the
# session (`gt_stimulus_only_rate`): an image-computable model cannot know the
# behaviour of a given trial. (Averaging the ground-truth rate over the image's
# own repeats instead would keep those trials' gains and eye shifts, and so
# overstate the ceiling.) The Sensorium convention averages correlations over
# all neurons but FEVE over the reliable ones only; the middle rows put the
# ceiling's correlations on that same set of neurons.
#
# %%
display(Markdown(calibration.ceiling_text(ours, implied)))

# %% [markdown]
# FEV and FEVE count *every* trial-to-trial change of the response to one image
# as noise, including the changes that the eye, the behaviour and the brain
# state cause. So FEVE is not bounded by 1: a model that sees behaviour and
# eye position can exceed it, and so can the fraction oracle (next section). The
# full ground-truth rate, which knows all of them, reaches a mean single-trial
# correlation of {glue:text}`full_ceiling:.3f`, against
# {glue:text}`image_ceiling:.3f` for the image-only ceiling. Whenever a later
# chapter ranks a model that sees behaviour beside image-only models, it says
# so and gives each model's fraction of the image-only ceiling as well.
#
# Per neuron, the oracle correlation and the fraction of explainable variance
# (FEV) spread from unresponsive neurons, which any model must fail on, to highly
# reliable ones. Sensorium drops neurons with FEV < 0.15 before computing FEVE.

# %%
glue("full_ceiling", ours["ceiling_single_trial_corr"], display=False)
glue("image_ceiling", ours["image_ceiling_single_trial_corr"], display=False)
fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
axes[0].hist(rel.oracle_corr, bins=40, color="C0")
axes[0].set(xlabel="oracle correlation (leave-one-out)", ylabel="neurons",
            title=f"mean {ours['mean_oracle_corr']:.2f}")
axes[1].hist(rel.fev, bins=40, color="C2")
axes[1].axvline(calibration.FEV_THRESHOLD, color="k", ls="--", lw=1)
axes[1].set(xlabel="fraction of explainable variance", ylabel="neurons",
            title=f"{ours['fraction_fev_above_threshold']:.0%} with FEV ≥ 0.15")
axes[2].scatter(rel.oracle_corr, rel.image_ceiling_single_trial_corr, s=3, alpha=0.4)
lim = [0, float(max(rel.oracle_corr.max(), rel.image_ceiling_single_trial_corr.max()))]
axes[2].plot(lim, lim, "k--", lw=0.8)
axes[2].set(xlabel="oracle correlation", ylabel="image-only ceiling correlation",
            title="oracle vs true ceiling");

# %%
repeats = int(pd.Series(ds0.image_id.values[ds0.tier.values == "test"]).value_counts().median())
display(Markdown(calibration.oracle_text(rel, repeats)))

# %% [markdown]
# ## Using your own data
#
# Every chapter takes its data from the `data` parameter: a name from
# `data_manifest.yaml`, or the path of a NetCDF file in the static schema (see
# {doc}`../data_format`). The chapters that fit models run unchanged on your
# recordings:
#
# ```bash
# papermill notebooks/ipynb/NN_chapter.ipynb out.ipynb -p profile cpu -p data /path/to/my_scans.nc
# ```
#
# This chapter is about the simulator itself: its tuning, behaviour-weight and
# ceiling sections need the ground truth that only simulated data carry, and
# stop with a clear error on recordings. Its stimulus, response and reliability
# sections (oracle, FEV) apply to any data with repeated test images, through
# `v1lib.sim.calibration.neuron_reliability`.
