"""Numbers the papers report, which the chapters set their results against.

Each appears here once, with the citation key of its source in
``book/references.bib`` and where in the source it is stated; chapters and
studies read them from :data:`PUBLISHED` (never typed twice).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    value: float
    unit: str  # "%", "scans", "" (a correlation or a fraction)
    what: str
    cite: str  # citation key in book/references.bib
    where: str  # where the source states it

    def __str__(self) -> str:
        v = f"{self.value:g}"
        return f"{v} %" if self.unit == "%" else f"{v} {self.unit}".strip()

    @property
    def signed(self) -> str:
        """The value as a signed change: '+7 %'."""
        return f"+{self}" if self.value > 0 else str(self)


LURZ = "lurz2021generalization"
SINZ = "sinz2018stimulus"
# the authors' executed notebooks (sinzlab/Sinz2018_NIPS, commit 1b1a001: the table of
# the percent_oracle figure and the TestScores output), three scans; not checked against
# the paper's PDF, which could not be read here
SINZ_NOTEBOOKS = "authors' executed notebooks, movie test set, lowest and highest of 3 scans"
SENSORIUM = "willeke2022sensorium"

PUBLISHED = {
    "gaussian_readout_gain": Published(
        7, "%", "gain in performance of the Gaussian readout over the previous state-of-the-art "
        "network", LURZ, "abstract"),
    "transfer_gain": Published(
        12, "%", "gain of a transferred data-driven core over training directly on the new "
        "animal", LURZ, "abstract"),
    "transfer_data_fraction": Published(
        40, "%", "fraction of the data with which transfer matches direct training on all of it",
        LURZ, "abstract"),
    "transfer_vs_vgg16": Published(
        33, "%", "gain of the transferred data-driven core over a VGG16 core pre-trained on "
        "ImageNet", LURZ, "abstract"),
    "transfer_source_scans": Published(
        11, "scans", "scans the released transfer core ('11-S') was trained on", LURZ,
        "section 4, core transfer"),
    "sinz_fraction_oracle_full_lo": Published(
        50.4, "%", "fraction oracle of the recurrent model with shifter and modulator", SINZ,
        SINZ_NOTEBOOKS),
    "sinz_fraction_oracle_full_hi": Published(
        68.3, "%", "fraction oracle of the recurrent model with shifter and modulator", SINZ,
        SINZ_NOTEBOOKS),
    "sinz_fraction_oracle_core_only_lo": Published(
        35.69, "%", "fraction oracle of the recurrent model without shifter and modulator",
        SINZ, SINZ_NOTEBOOKS),
    "sinz_fraction_oracle_core_only_hi": Published(
        56.32, "%", "fraction oracle of the recurrent model without shifter and modulator",
        SINZ, SINZ_NOTEBOOKS),
    "sinz_fraction_oracle_ln_full_lo": Published(
        37.9, "%", "fraction oracle of the LN model with shifter and modulator", SINZ,
        SINZ_NOTEBOOKS),
    "sinz_fraction_oracle_ln_full_hi": Published(
        54.2, "%", "fraction oracle of the LN model with shifter and modulator", SINZ,
        SINZ_NOTEBOOKS),
    "sinz_fraction_oracle_ln_lo": Published(
        26.8, "%", "fraction oracle of the LN model without shifter and modulator", SINZ,
        SINZ_NOTEBOOKS),
    "sinz_fraction_oracle_ln_hi": Published(
        39.9, "%", "fraction oracle of the LN model without shifter and modulator", SINZ,
        SINZ_NOTEBOOKS),
    "sinz_test_corr_full_movies_lo": Published(
        0.1215, "", "single-trial test correlation of the full model, trained and tested on "
        "movies", SINZ, SINZ_NOTEBOOKS),
    "sinz_test_corr_full_movies_hi": Published(
        0.1806, "", "single-trial test correlation of the full model, trained and tested on "
        "movies", SINZ, SINZ_NOTEBOOKS),
    "sinz_test_corr_full_noise_lo": Published(
        0.1455, "", "single-trial test correlation of the full model, trained and tested on "
        "noise (Monet and Trippy)", SINZ, SINZ_NOTEBOOKS + " (one value read off a figure)"),
    "sinz_test_corr_full_noise_hi": Published(
        0.170, "", "single-trial test correlation of the full model, trained and tested on "
        "noise (Monet and Trippy)", SINZ, SINZ_NOTEBOOKS + " (one value read off a figure)"),
    "sinz_ori_sd_full_lo": Published(
        0.318, "rad", "SD of the circular difference between the preferred orientations of the "
        "movie-trained full model and of the measured Monet responses, tuned neurons", SINZ,
        SINZ_NOTEBOOKS.replace("movie test set", "Monet responses")),
    "sinz_ori_sd_full_hi": Published(
        0.392, "rad", "the same SD, highest of the three scans", SINZ,
        SINZ_NOTEBOOKS.replace("movie test set", "Monet responses")),
    "sinz_ori_sd_core_only_lo": Published(
        0.431, "rad", "the same SD for the movie-trained model without shifter and modulator",
        SINZ, SINZ_NOTEBOOKS.replace("movie test set", "Monet responses")),
    "sinz_ori_sd_core_only_hi": Published(
        0.473, "rad", "the same SD for the movie-trained model without shifter and modulator",
        SINZ, SINZ_NOTEBOOKS.replace("movie test set", "Monet responses")),
    "sinz_ori_sd_noise_lo": Published(
        0.061, "rad", "the same SD for the noise-trained full model (in domain)", SINZ,
        SINZ_NOTEBOOKS.replace("movie test set", "Monet responses")),
    "sinz_ori_sd_noise_hi": Published(
        0.070, "rad", "the same SD for the noise-trained full model (in domain)", SINZ,
        SINZ_NOTEBOOKS.replace("movie test set", "Monet responses")),
    "sensorium2022_cnn_single_trial_corr": Published(
        0.286, "", "single-trial correlation of the 7-scan Sensorium 2022 CNN, test tier of "
        "scan 21067-10-18", SENSORIUM, "starter-kit submission tutorial"),
    "sensorium2022_cnn_corr_to_avg": Published(
        0.542, "", "correlation to average of the same model and tier", SENSORIUM,
        "starter-kit submission tutorial"),
    "sensorium2022_cnn_feve": Published(
        0.452, "", "FEVE (FEV >= 0.15) of the same model and tier", SENSORIUM,
        "starter-kit submission tutorial"),
}


def value(key: str) -> float:
    """The published value of ``key``; an unknown key names the known ones."""
    if key not in PUBLISHED:
        raise KeyError(f"no published number '{key}'; known: {sorted(PUBLISHED)}")
    return PUBLISHED[key].value


XU = "xu2023multimodal"
# the authors' executed notebooks (Tables 1-3 of the paper): the mean over neurons of the
# test correlation after a 2-s boxcar, averaged here over the 3 mice; not checked
# against the paper's PDF, which could not be read here
XU_NOTEBOOKS = "authors' executed notebooks, 2-s smoothed test correlation, mean of 3 mice"
_XU_R = {
    "vision": (0.482, "CNN, vision only, no shifter (Table 1)"),
    "vision_shifter": (0.524, "CNN, vision only, with the shifter (Table 1)"),
    "orig_prod": (0.572, "+ behaviour B and its pairwise products + GRU (Table 2)"),
    "S": (0.567, "+ speed, pupil and its change + GRU (Table 2)"),
    "full": (0.587, "the full model: B, B' and all products, 1 frame (Tables 2, 3)"),
    "frames_2": (0.587, "the full model with 2 frames (Table 3)"),
    "frames_4": (0.610, "the full model with 4 frames (Table 3)"),
    "frames_8": (0.595, "the full model with 8 frames (Table 3)"),
}
# Figure 5 of the paper, mouse 2 only (32 neurons; 30 of them with r >= 0.25), read off
# the saliency notebook's figure
XU_FIG5 = "saliency notebook's figure (Fig. 5), mouse 2"
_XU_SALIENCY = {
    "position": (66, "neurons strongly modulated by position (head or eye), of all"),
    "speed": (28, "neurons strongly modulated by speed, of all"),
    "pupil": (34, "neurons strongly modulated by pupil, of all"),
    "mixed": (50, "well-fit neurons modulated by two or more groups"),
    "position_only": (17, "well-fit neurons modulated by position only"),
    "pupil_only": (10, "well-fit neurons modulated by pupil only"),
    "speed_only": (0, "well-fit neurons modulated by speed only"),
    "none": (23, "well-fit neurons modulated by no behavioural group"),
}
PUBLISHED.update({f"xu_r_{k}": Published(v, "", f"mean test correlation, {what}", XU, XU_NOTEBOOKS)
                  for k, (v, what) in _XU_R.items()})
PUBLISHED.update({f"xu_saliency_{k}": Published(v, "%", what, XU, XU_FIG5)
                  for k, (v, what) in _XU_SALIENCY.items()})

SHI = "shi2022mousenet"
SHI_FIG7 = "Fig. 7 caption: ImageNet validation top-1 at 64 x 64 px"
PUBLISHED.update({
    "shi_top1_mousenet": Published(
        37.6, "%", "ImageNet top-1 accuracy of MouseNet (mean of 4 instances: 37.46, 37.95, "
        "37.52, 37.49)", SHI, SHI_FIG7),
    "shi_top1_vgg16": Published(
        60.7, "%", "ImageNet top-1 accuracy of VGG16 (mean of 3 instances: 60.46, 60.72, 60.93)",
        SHI, SHI_FIG7),
})
