"""Data-driven models of V1: core, readouts, shifter, modulator."""

from .core import CoreConfig, Stacked2dCore
from .encoder import READOUTS, Encoder, ModelConfig, ScanInfo

__all__ = ["CoreConfig", "Stacked2dCore", "READOUTS", "Encoder", "ModelConfig", "ScanInfo"]
