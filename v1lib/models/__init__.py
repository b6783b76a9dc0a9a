"""Data-driven models of V1: core, readouts, shifter, modulator, and their composition."""

from .core import CORES, CoreConfig, Stacked2dCore
from .encoder import Encoder, ModelConfig
from .normalizer import InputStats, Normalizer, ScanInfo
from .readouts import READOUTS

__all__ = ["CORES", "CoreConfig", "Stacked2dCore", "READOUTS", "Encoder", "ModelConfig",
           "InputStats", "Normalizer", "ScanInfo"]
