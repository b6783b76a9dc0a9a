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
# # Orientation tuning of the trained model
#
# **Question.** A model trained only on natural movies has never seen noise.
# Does it still know each neuron's preferred orientation, measured the way
# experimenters measure it, with Monet noise? {cite:t}`sinz2018stimulus` showed
# their movie-trained models the Monet clips of the experiment, with eye
# position and behaviour held at their means, and read each neuron's preferred
# orientation from the predictions with the same method as from the recorded
# responses. Over well-tuned neurons the two disagreed by a circular standard
# deviation of {glue:text}`sinz_ori_sd_full_lo:.2f`–{glue:text}`sinz_ori_sd_full_hi:.2f` rad
# for the full model, and more without shifter and modulator
# ({glue:text}`sinz_ori_sd_core_only_lo:.2f`–{glue:text}`sinz_ori_sd_core_only_hi:.2f` rad);
# a model trained on noise, which saw Monet, agreed to within
# {glue:text}`sinz_ori_sd_noise_lo:.2f`–{glue:text}`sinz_ori_sd_noise_hi:.2f` rad.
#
# The in-silico V1 adds a third reading: the same probe on the neurons'
# expected responses, and their true preferred orientation from drifting
# gratings (chapter 1's ground truth). So we can ask whether the model or the
# measurement is closer to the truth.

# %% tags=["parameters"]
profile = "auto"
seed = 2018
device = "auto"
video_data = None
results_dir = None

# %%
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from v1lib import chapter, ledger
from v1lib.stats import t_interval
from v1lib.studies import video_prediction as vp
from v1lib.studies import video_tuning as vt
from v1lib.studies.static import replicates
from v1lib.studies.video import model_configs

prof, dataset, scans, device = chapter.setup(profile, video_data or vp.video_data(profile),
                                             results_dir, device)
burn_in = model_configs(profile)[2].burn_in
reps = replicates(scans, vp.settings(profile))
chapter.glue_published(*(f"sinz_ori_sd_{m}_{e}" for m in ("full", "core_only", "noise")
                         for e in ("lo", "hi")))
display(Markdown(f"Profile **{prof['name']}**; dataset **{dataset}**; animals "
                 f"{', '.join(a for a, _ in reps)}; the models are chapter 4's (they reload)."))

# %% [markdown]
# ## One animal: model against measurement
#
# The preferred orientation of every neuron of the first animal, read from the
# movie-trained full model against that read from its recorded responses to the
# same Monet clips; filled: the neurons the paper's thresholds call tuned
# (selectivity above 0.2, explained variance above 0.005).

# %%
animal, seed_1 = reps[0]
fit = vp.fit_variant(scans, profile, "full", animal, seed_1, results_dir, device)
p = vt.probe(fit, scans[animal], 2, burn_in)
keep = vt.tuned(p["measured"], 2)
deg = lambda a: np.rad2deg(a) % 180
fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
axes[0].scatter(deg(p["measured"]["angle"][~keep]), deg(p["model"]["angle"][~keep]), s=8,
                facecolors="none", edgecolors="0.6", label="not tuned")
axes[0].scatter(deg(p["measured"]["angle"][keep]), deg(p["model"]["angle"][keep]), s=10,
                color="C0", label="tuned")
axes[0].set(xlabel="measured preferred axis of motion (deg)",
            ylabel="model's preferred axis (deg)", xlim=(0, 180), ylim=(0, 180))
axes[0].legend(fontsize=7)
d = np.rad2deg(vt.circular_difference(p["model"]["angle"], p["measured"]["angle"], 2))
axes[1].hist(d[keep], bins=np.linspace(-90, 90, 25), color="C0")
axes[1].set(xlabel="model minus measured (deg)", ylabel="tuned neurons",
            title=f"SD {np.std(d[keep]):.0f}° over {keep.sum()} neurons");

# %% [markdown]
# ## Every animal and model
#
# The circular SD of the differences (radians) over each animal's tuned
# neurons, for the movie-trained model with and without shifter and modulator
# and the noise-trained model; the Levene test compares the spread of each
# with the full movie model's:

# %%
neurons = vt.neuron_table(scans, profile, results_dir=results_dir, device=device)
table = vt.comparison(neurons)
table.round(3)

# %% [markdown]
# The differences themselves, pooled over animals, for each model:

# %%
tuned_rows = neurons[neurons.tuned]
fig, ax = plt.subplots(figsize=(7, 3.2))
bins = np.linspace(-90, 90, 31)
for v in tuned_rows.variant.unique():
    d = np.rad2deg(tuned_rows[tuned_rows.variant == v]["model - measured"])
    ax.hist(d, bins=bins, histtype="step", lw=1.5, density=True, label=vp.LABELS[v])
ax.set(xlabel="model minus measured preferred orientation (deg)", ylabel="density",
       title="tuned neurons of every animal")
ax.legend(fontsize=7);

# %%
lines = []
for v in table.variant.unique():
    rows = table[table.variant == v]
    iv = t_interval(rows["SD model - measured"].values)
    line = f"* **{vp.LABELS[v]}**: SD model − measured {iv.span()} rad"
    if "SD model - true" in rows:
        line += (f"; model − true {t_interval(rows['SD model - true'].values).span()} rad; "
                 f"measured − true {t_interval(rows['SD measured - true'].values).span()} rad")
    lines.append(line + " (mean and 95 % t-interval over animals).")
display(Markdown("\n".join(lines)))

# %% [markdown]
# Why a model reads a neuron's orientation well or badly: the preferred
# orientation comes from the stimulus-driven part of its predictions, which
# the simulator knows. The correlation of the model's predictions (eye and
# behaviour at their means) with the neurons' expected responses at unit gain
# on the same Monet clips, over tuned neurons, for each model:

# %%
if "corr. with stimulus-driven truth" in table:
    uniform = np.pi / np.sqrt(12)  # SD of differences that carry no information
    rows = []
    for v in table.variant.unique():
        t = table[table.variant == v]
        c = t_interval(t["corr. with stimulus-driven truth"].values)
        sd = t_interval(t["SD model - measured"].values)
        chance = sd.known and sd.lo <= uniform <= sd.hi
        note = f" (that of random guesses, {uniform:.2f} rad, lies inside its interval)"
        rows.append(f"* **{vp.LABELS[v]}**: correlation with the stimulus-driven truth "
                    f"{c.span()}; SD of the orientation differences {sd.span()} rad"
                    + (note if chance else "") + ".")
    display(Markdown("\n".join(rows)))

# %% [markdown]
# The paper's three mice: movie-trained full models
# {glue:text}`sinz_ori_sd_full_lo:.2f`–{glue:text}`sinz_ori_sd_full_hi:.2f` rad; without
# shifter and modulator
# {glue:text}`sinz_ori_sd_core_only_lo:.2f`–{glue:text}`sinz_ori_sd_core_only_hi:.2f` rad;
# noise-trained {glue:text}`sinz_ori_sd_noise_lo:.2f`–{glue:text}`sinz_ori_sd_noise_hi:.2f` rad.
#
# ## Against the ground truth
#
# The probe's reading of the expected responses, set against each neuron's true
# preferred orientation from drifting gratings (the stripes are orthogonal to
# the axis of motion): the probe itself is checked on the simulator before it
# is used to judge a model.

# %%
oriented, err = vt.truth_errors(p, scans[animal])
true_deg = (scans[animal].gt_orientation.values[oriented] + 90) % 180
fig, ax = plt.subplots(figsize=(4.2, 4))
ax.scatter(true_deg, deg(p["true"]["angle"][oriented]), s=8, alpha=0.6)
ax.plot([0, 180], [0, 180], "k:", lw=0.8)
ax.set(xlabel="true preferred axis of motion, gratings (deg)",
       ylabel="probe on the expected responses (deg)", xlim=(0, 180), ylim=(0, 180),
       title="the probe on the ground truth")
display(Markdown(
    f"Over the {oriented.sum()} orientation-selective neurons of {animal} (grating OSI above 0.3), "
    f"the circular SD of the probe's error: on the expected responses {np.std(err['true']):.1f}°, "
    f"on the model's predictions {np.std(err['model']):.1f}°, on the recorded responses "
    f"{np.std(err['measured']):.1f}°."))

# %% [markdown]
# The chapter's claims, with their verdicts, go to the book's ledger, which the
# closing chapter reads.

# %%
ledger.record("06_orientation_tuning", profile, *vt.ledger_entries(table),
              results_dir=results_dir)
