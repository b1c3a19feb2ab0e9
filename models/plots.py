"""Evaluation plots: error histograms, ROC curve, true vs reconstructed beats (PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402
from sklearn.metrics import roc_auc_score, roc_curve  # noqa: E402

GRID_COLUMNS = 6


def plot_histograms(normal: NDArray[np.floating], anomaly: NDArray[np.floating],
                    threshold: float, path: Path) -> Path:
    """Histograms of normal vs anomalous reconstruction errors with the threshold line."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    bins = np.linspace(0.0, float(np.quantile(np.r_[normal, anomaly], 0.995)), 80).tolist()
    ax.hist(normal, bins=bins, alpha=0.6, density=True, label=f"normal (n={len(normal)})")
    ax.hist(anomaly, bins=bins, alpha=0.6, density=True, label=f"anomaly (n={len(anomaly)})")
    ax.axvline(threshold, color="k", linestyle="--", label=f"threshold {threshold:.2f}")
    ax.set(xlabel="reconstruction error (L1 sum)", ylabel="density")
    ax.legend()
    return _save(fig, path)


def plot_roc(normal: NDArray[np.floating], anomaly: NDArray[np.floating],
             baseline: tuple[NDArray[np.floating], NDArray[np.floating]] | None,
             path: Path) -> Path:
    """ROC curve of the model (and of the 1-NN baseline when given)."""
    fig, ax = plt.subplots(figsize=(5, 5))
    curves = {"autoencoder": (normal, anomaly)}
    if baseline is not None:
        curves["1-NN baseline"] = baseline
    for label, (neg, pos) in curves.items():
        labels, scores = np.r_[np.zeros(len(neg)), np.ones(len(pos))], np.r_[neg, pos]
        fpr, tpr, _ = roc_curve(labels, scores)
        ax.plot(fpr, tpr, label=f"{label} (AUC {roc_auc_score(labels, scores):.4f})")
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.5)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xscale="log")
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_reconstructions(normal: tuple[NDArray[np.floating], NDArray[np.floating]],
                         anomaly: tuple[NDArray[np.floating], NDArray[np.floating]],
                         path: Path) -> Path:
    """2 x 6 grid of true vs reconstructed beats: normals above, anomalies below.

    Args:
        normal: (beats, reconstructions), each ``(>=6, 140)``.
        anomaly: (beats, reconstructions), each ``(>=6, 140)``.
        path: PNG file to write.
    """
    fig, axes = plt.subplots(2, GRID_COLUMNS, figsize=(18, 6), sharey=True)
    for row, (kind, (true, recon)) in enumerate((("normal", normal), ("anomaly", anomaly))):
        for col in range(GRID_COLUMNS):
            ax = axes[row, col]
            loss = float(np.abs(true[col] - recon[col]).sum())
            ax.plot(true[col], label="true")
            ax.plot(recon[col], label="reconstructed")
            ax.set_title(f"{kind} (loss {loss:.1f})")
    axes[0, 0].legend()
    return _save(fig, path)


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
