"""The models of the video chapters (Sinz et al. 2018): the recurrent model and
the LN baseline, with or without shifter and modulator, and the model and
training settings a profile gives them (its ``video_models`` section).

A profile's section names the core options of each model (``recurrent``,
``ln``), the readout options shared by both (``model``), the training recipe
(``train``, with its window of frames) and the ``burn_in``: the leading frames
of every clip or window left out of the loss and the scores.
"""

from __future__ import annotations

from .. import profiles
from ..models.encoder import ModelConfig
from ..objectives import Poisson
from ..train import TrainConfig

SECTION = "video_models"
CORE_TYPES = {"recurrent": "recurrent", "ln": "linear3d"}  # model name -> core_type
LABELS = {"recurrent": "recurrent (conv + GRU)", "ln": "LN (linear 3D filter)"}


def model_configs(profile: str, model: str = "recurrent", shifter: bool = True,
                  modulator: bool = True, **options) -> tuple[ModelConfig, TrainConfig, Poisson]:
    """The model, training configuration and objective of ``model`` under
    ``profile``, with Sinz et al.'s affine shifter and GRU modulator where asked,
    and the model ``options`` set on top."""
    if model not in CORE_TYPES:
        raise ValueError(f"unknown video model '{model}'; choose from {list(CORE_TYPES)}")
    s = profiles.settings(profile, SECTION)
    source = f"profile '{profiles.resolve(profile)}', section '{SECTION}'"
    core = (s.get(model) or {}).get("core", {})
    cfg = ModelConfig.from_dict({"core_type": CORE_TYPES[model], "core": core,
                                 "readout": "point", **s.get("model", {}),
                                 "shifter": "affine" if shifter else None,
                                 "modulator": "gru" if modulator else None, **options},
                                source=source)
    burn_in = s.get("burn_in", 15)
    if not isinstance(burn_in, int) or burn_in < 0:
        raise ValueError(f"{source}: 'burn_in' must be a whole number of frames, got {burn_in!r}")
    train = TrainConfig.from_dict(s.get("train", {}), source=source)
    if train.window is not None and train.window <= burn_in:
        raise ValueError(f"{source}: a training window of {train.window} frames leaves nothing "
                         f"after the burn-in of {burn_in} frames; make 'window' longer")
    return cfg, train, Poisson(burn_in=burn_in)
