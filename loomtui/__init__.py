"""LoomTUI: a terminal console for supervising a pod of coding agents."""

__version__ = "0.1.0"
