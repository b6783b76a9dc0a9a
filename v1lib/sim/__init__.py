"""The in-silico mouse V1: stimuli, a ground-truth feature bank, neuron
populations, behaviour and the static-image experiment."""

from .static import StaticConfig, animals, simulate_static

__all__ = ["StaticConfig", "animals", "simulate_static"]
