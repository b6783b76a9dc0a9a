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
