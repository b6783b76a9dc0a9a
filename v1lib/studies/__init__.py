"""The experiments of the chapters, as functions the notebooks call: one module
per chapter group (import the one a chapter needs, so that its cache key covers
only that code), and :mod:`~v1lib.studies.sweep`, the loop they share."""
