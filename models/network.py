"""The LSTM autoencoder network: layers and forward only."""

from __future__ import annotations

import torch
from torch import nn

from models.preprocess import BEAT_LENGTH

REFERENCE_HIDDEN = (256, 128)


class LstmAutoencoder(nn.Module):
    """Encoder LSTM stack -> latent (last hidden state) -> decoder LSTM stack -> linear.

    With ``hidden=(h1, h2)`` the encoder is LSTM 1->h1->h2, the latent the last state of
    size h2, repeated over time into a decoder LSTM h2->h2->h1 and a linear h1->1.
    ``hidden=(256, 128)`` is the reference notebook's architecture.
    """

    def __init__(self, seq_len: int = BEAT_LENGTH, hidden: tuple[int, ...] = (64, 32)) -> None:
        super().__init__()
        self.seq_len = seq_len
        sizes = (1, *hidden)
        self.encoder = nn.ModuleList(
            nn.LSTM(sizes[i], sizes[i + 1], batch_first=True) for i in range(len(hidden))
        )
        back = (hidden[-1], *reversed(hidden))
        self.decoder = nn.ModuleList(
            nn.LSTM(back[i], back[i + 1], batch_first=True) for i in range(len(hidden))
        )
        self.output = nn.Linear(hidden[0], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct beats.

        Args:
            x: float32 ``(batch, seq_len, 1)``.

        Returns:
            float32 ``(batch, seq_len, 1)``.
        """
        for layer in self.encoder:
            x, (h, _) = layer(x)
        latent = h[-1]
        x = latent.unsqueeze(1).expand(-1, self.seq_len, -1)
        for layer in self.decoder:
            x, _ = layer(x)
        return self.output(x)
