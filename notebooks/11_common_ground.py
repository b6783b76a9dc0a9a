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
# # All models on common ground
#
# **Question.** Ten chapters trained recurrent video models, Gaussian
# readouts, transferred cores, multimodal models of freely moving mice and
# task-driven networks, each on the data it was built for. How close does each
# come to what is predictable, at what cost, and which of the four papers'
# claims stand on our data?
#
# Recordings give only an *observable* yardstick (an oracle, a split-half
# noise ceiling), and the papers' numbers are not comparable across datasets.
# The in-silico V1 gives every model the same two yardsticks: the *true
# ceiling* (the correlation of single trials with the expected response given
# everything the simulator drew, a latent brain state included) and the
# *observable ceiling* (given what a model sees: the stimulus, and where the
# data have them the eye and the behaviour). A model's test correlation as a
# fraction of each is comparable across chapters. The task-driven networks of
# chapter 9 are scored by their representational similarity to V1 instead,
# against the similarity of the noise-free responses (true) and the
# split-half noise ceiling (observable).
#
# Nothing is trained or typed in here: every row below is one the chapters
# wrote to the book's ledger when they ran under this profile.

# %% tags=["parameters"]
profile = "auto"
results_dir = None

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from v1lib import ledger, plots, profiles
from v1lib.studies import common_ground as cg

plots.setup()
pd.set_option("display.max_colwidth", None)  # claims and reasons in full
prof = profiles.load(profile)
book = ledger.read(profile, results_dir)
gaps = cg.missing(book)
display(Markdown(
    f"Profile **{prof['name']}**: {len(book.models)} models and {len(book.claims)} claims from "
    f"{len(book.chapters)} chapters."
    + (f" **Not yet run under this profile:** {', '.join(gaps)}; run them first "
       f"(`python -m v1lib book --profile {prof['name']} --force --only NN 11`) and their rows "
       "join the tables."
       if gaps else "")))

# %% [markdown]
# ## Every model
#
# Fractions are means over the model's replicates (animals, or network
# instances) with 95 % t-intervals; parameters are those trained (a frozen
# core's are not counted, so a transferred or task core shows only its
# readout's); training time is the wall time of the run that produced the
# cached model, on the machine it ran on.

# %%
cg.model_table(book)

# %% [markdown]
# The same numbers as bars: the fraction of the true ceiling, which no model
# can exceed in expectation (dashed line), grouped by chapter.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 0.3 * max(len(book.models), 3) + 1.2), sharey=True,
                         layout="constrained")
cg.ceiling_figure(book, "fraction_true", axes[0])
cg.ceiling_figure(book, "fraction_observable", axes[1])
if axes[1].get_legend():
    axes[1].get_legend().remove()

# %% [markdown]
# What a model costs against what it reaches: each point is one model of the
# table.

# %%
cg.cost_figure(book);

# %% [markdown]
# ## The papers' claims
#
# Each chapter set its paper's numbers against its own, with one rule for the
# verdict: *reproduced* where our 95 % interval resolves the paper's effect in
# its direction (or overlaps the range of its mice), *not reproduced* where
# the interval excludes it, *not testable here* where the interval contains
# both no effect and the paper's, where one replicate gives no interval, or
# where a precondition fails (a network that has not learned its task).
# Chapter 8's classification of neurons by what drives them is set against
# the paper's percentages in that chapter; it rests on one mouse of the
# paper's and has no interval over animals to judge, so it is not here.

# %%
cg.claims_table(book)

# %%
cg.verdict_figure(book);

# %%
display(Markdown(cg.summary_text(book)))

# %% [markdown]
# ## What this chapter shows, and what it does not
#
# * The fractions compare models on one footing only because the simulator
#   knows the ceilings; on recordings, the oracle and the split-half ceiling
#   are estimates with their own noise, and a model that reads eye and
#   behaviour can exceed an oracle (chapter 4).
# * Parameters and training times depend on the profile: the cpu profile's
#   networks are a fraction of the papers' sizes, trained for minutes. A claim
#   *not reproduced* here is not reproduced at this scale, on these simulated
#   data; the chapters say where the scale is the likely reason.
# * A verdict rests on the replication units of its chapter (animals, network
#   instances), few on the cpu profile; *not testable here* often means only
#   that more animals are needed.
