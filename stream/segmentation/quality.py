"""Segmentation quality: one-to-one matching of detected beat onsets to the true ones."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

DEFAULT_ONSET_TOLERANCE = 14  # samples: 10 % of a 140-sample beat


def match_onsets(true: ArrayLike, found: ArrayLike, tolerance: int = DEFAULT_ONSET_TOLERANCE
                 ) -> list[tuple[int, int]]:
    """Match true and found onsets one-to-one within ``tolerance`` samples, closest first.

    Every (true, found) pair at most ``tolerance`` apart is a candidate; candidates are taken
    by increasing distance (ties: the earlier true onset, then the earlier found one), each
    onset at most once. Neither input needs to be sorted.

    Args:
        true: true onsets, samples, shape ``(n,)``.
        found: detected onsets, samples, shape ``(m,)``.
        tolerance: largest accepted ``|found - true|``, samples.

    Returns:
        (index into ``true``, index into ``found``) pairs, sorted by the true index.
    """
    truth = np.asarray(true, dtype=np.int64).reshape(-1)
    detected = np.asarray(found, dtype=np.int64).reshape(-1)
    if truth.size == 0 or detected.size == 0:
        return []
    order = np.argsort(detected, kind="stable")
    ranked = detected[order]
    lo = np.searchsorted(ranked, truth - tolerance, side="left")
    hi = np.searchsorted(ranked, truth + tolerance, side="right")
    counts = hi - lo
    ti = np.repeat(np.arange(truth.size), counts)
    if ti.size == 0:
        return []
    offsets = np.arange(ti.size) - np.repeat(np.cumsum(counts) - counts, counts)
    fi = order[np.repeat(lo, counts) + offsets]
    distance = np.abs(detected[fi] - truth[ti])
    # lexsort's last key is the primary one: distance, true onset, found onset, then index.
    ranking = np.lexsort((fi, ti, detected[fi], truth[ti], distance))
    used_true = np.zeros(truth.size, dtype=bool)
    used_found = np.zeros(detected.size, dtype=bool)
    pairs = []
    for k in ranking:
        i, j = int(ti[k]), int(fi[k])
        if not used_true[i] and not used_found[j]:
            used_true[i] = used_found[j] = True
            pairs.append((i, j))
    pairs.sort()
    return pairs
