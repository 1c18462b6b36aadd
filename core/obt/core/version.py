"""The single place that holds OBT's version (hatch reads it at build time)."""

__version__ = "0.1.0"
