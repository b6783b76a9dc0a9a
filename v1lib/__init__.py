"""v1lib: data-driven models of mouse primary visual cortex, and the in-silico
mouse V1 they are checked against."""

__version__ = "0.1.0"
