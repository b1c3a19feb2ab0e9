"""``ecg-stream model``: train, evaluate and benchmark the autoencoder."""

from __future__ import annotations

import click


@click.group()
def model() -> None:
    """Train, evaluate and benchmark the LSTM autoencoder."""
