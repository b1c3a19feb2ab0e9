"""Streaming side of the ECG anomaly pipeline: settings, CLI, local infrastructure, Faust worker."""

__version__ = "0.1.0"
