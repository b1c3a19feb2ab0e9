"""Onset matching: one-to-one, within the tolerance, closest pairs first."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stream.segmentation.quality import DEFAULT_ONSET_TOLERANCE, match_onsets


def test_closest_pairs_first_keeps_both_matches() -> None:
    # 114 is nearer 127 (13) than 100 (14), but 127 has 128 at 1: both true onsets match.
    assert match_onsets([100, 127], [114, 128], 14) == [(0, 0), (1, 1)]


def test_ties_go_to_the_earlier_true_onset() -> None:
    assert match_onsets([100, 120], [110], 14) == [(0, 0)]


def test_unsorted_and_empty_inputs() -> None:
    assert match_onsets([280, 0, 140], [139, 290, 1], 14) == [(0, 1), (1, 2), (2, 0)]
    assert match_onsets([], [3], 14) == [] and match_onsets([3], [], 14) == []


def test_default_tolerance_is_a_tenth_of_a_beat() -> None:
    assert DEFAULT_ONSET_TOLERANCE == 14


onsets = st.lists(st.integers(0, 2000), max_size=40)


@given(onsets, onsets, st.integers(0, 30))
def test_matching_is_one_to_one_and_within_tolerance(true: list[int], found: list[int],
                                                     tolerance: int) -> None:
    pairs = match_onsets(true, found, tolerance)
    assert len({i for i, _ in pairs}) == len(pairs) == len({j for _, j in pairs})
    assert all(abs(found[j] - true[i]) <= tolerance for i, j in pairs)
    matched_true, matched_found = {i for i, _ in pairs}, {j for _, j in pairs}
    # Maximal: no unmatched true onset is left with an unmatched found one in reach.
    assert not any(abs(f - t) <= tolerance for i, t in enumerate(true) if i not in matched_true
                   for j, f in enumerate(found) if j not in matched_found)
