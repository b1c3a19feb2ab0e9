"""Online QRS detection (Pan-Tompkins, 1985) on one patient's contiguous signal.

Causal filters whose state is carried across frames (:func:`scipy.signal.lfilter` with
``zi``): a 5-15 Hz Butterworth band-pass, the five-point derivative, squaring and a 150 ms
moving-window integration (MWI). A candidate is an MWI peak that is the largest within
:data:`REFRACTORY_S` on both sides, so it is decided :data:`REFRACTORY_S` after it; it is a
QRS when it passes the adaptive signal threshold, unless it comes within
:data:`T_WAVE_S` of the last QRS with less than half its slope (a T wave). When no QRS comes
for :data:`SEARCH_BACK` mean RR intervals, the largest candidate since the last QRS above
the noise threshold is taken (search-back). The thresholds are running levels of the
signal's own peaks, so the detector is scale-free: the same beats at any gain, in any unit.

The published fiducial is the R peak: the dominant deflection of the QRS in the signal
(band-passed to remove wander, its delay taken out), in the patient's dominant polarity,
so an inverted lead gives the same fiducials as the upright one.
"""

from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import signal


def _kernel() -> Any:
    """The compiled kernel behind :func:`scipy.signal.lfilter`, or None.

    Its wrapper's checks cost two thirds of a call on a frame. None when this scipy has no
    such kernel or it does not give lfilter's values on a probe: the public function is used.
    """
    try:
        from scipy.signal._sigtools import _linear_filter as kernel
    except ImportError:  # pragma: no cover - a scipy that moved it
        return None
    b, a = np.array([0.2, 0.3, 0.1]), np.array([1.0, -0.5, 0.1])
    x, zi = np.linspace(-1.0, 1.0, 7), np.array([0.3, -0.2])
    try:
        y, zf = kernel(b, a, x, -1, zi)
        want_y, want_zf = signal.lfilter(b, a, x, zi=zi)
        same = np.array_equal(y, want_y) and np.array_equal(zf, want_zf)
    except Exception:  # noqa: BLE001 - another signature: not the kernel we know
        return None
    return kernel if same else None


_linear_filter = _kernel()

BAND_HZ = (5.0, 15.0)
"""Pass band of the detection filter (Pan-Tompkins)."""
WIDE_HZ = (1.0, 40.0)
"""Pass band of the signal the R peak is located in (wander and mains hum removed)."""
MWI_S = 0.150
REFRACTORY_S = 0.200
T_WAVE_S = 0.360
SEARCH_BACK = 1.66
LEARN_S = 2.0
KEEP_S = 4.0
"""Signal history kept (search-back reaches 1.66 RR back; 40 bpm is 1.5 s)."""
R_WINDOW_S = 0.080
"""Half-width, around the filter's estimate, of the window the R peak is looked for in."""
RR_INIT_S = 0.8


@dataclass(frozen=True)
class _Filters:
    """Per-rate filter designs (transfer functions), shared by every detector at that rate."""

    slope_b: NDArray[np.float64]
    slope_a: NDArray[np.float64]
    slope_zi: NDArray[np.float64]
    wide_b: NDArray[np.float64]
    wide_a: NDArray[np.float64]
    wide_zi: NDArray[np.float64]
    band_delay: int
    wide_delay: int
    mwi: int
    refractory: int
    t_wave: int
    learn: int
    keep: int
    r_window: int


def _delay(b: NDArray[np.float64], a: NDArray[np.float64], fs: float, hz: float) -> int:
    """Group delay of the filter ``b, a`` at ``hz``, whole samples."""
    _, gd = signal.group_delay((b, a), w=[hz], fs=fs)
    return round(float(gd[0]))


@functools.lru_cache(maxsize=16)
def filters(fs: float) -> _Filters:
    """Filter designs at ``fs`` (cached; a few hundred bytes each).

    The band-pass and the five-point derivative are one transfer function (4th-order
    Butterworth band-pass times the derivative; ``lfilter`` costs a fifth of ``sosfilt``
    per frame, and the transfer function matches the sections to 1e-10 at 1000 Hz).
    """
    band_b, band_a = signal.butter(2, BAND_HZ, btype="bandpass", fs=fs)
    derivative = np.array([2.0, 1.0, 0.0, -1.0, -2.0]) * (fs / 8.0)
    slope_b = np.convolve(band_b, derivative)
    wide_b, wide_a = signal.butter(2, (WIDE_HZ[0], min(WIDE_HZ[1], 0.45 * fs)),
                                   btype="bandpass", fs=fs)
    return _Filters(
        slope_b=slope_b, slope_a=band_a, slope_zi=signal.lfilter_zi(slope_b, band_a),
        wide_b=wide_b, wide_a=wide_a, wide_zi=signal.lfilter_zi(wide_b, wide_a),
        band_delay=_delay(band_b, band_a, fs, 10.0) + 2,  # the derivative: 2 samples
        wide_delay=_delay(wide_b, wide_a, fs, 10.0),
        mwi=max(1, round(MWI_S * fs)), refractory=max(1, round(REFRACTORY_S * fs)),
        t_wave=round(T_WAVE_S * fs), learn=round(LEARN_S * fs), keep=round(KEEP_S * fs),
        r_window=max(2, round(R_WINDOW_S * fs)))


def lfilter(b: NDArray[np.float64], a: NDArray[np.float64], x: NDArray[np.float64],
            zi: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``scipy.signal.lfilter(b, a, x, zi=zi)`` for 1-D float64 ``x`` and ``zi`` of the right size.

    Calls scipy's compiled kernel directly when the import-time probe found it giving
    lfilter's values (a unit test compares them too), the public function otherwise.
    """
    if _linear_filter is not None:
        y, zf = _linear_filter(b, a, x, -1, zi)
        return y, zf
    y, zf = signal.lfilter(b, a, x, zi=zi)
    return y, zf


def window_peaks(seg: NDArray[np.float64], lo: int, hi: int, d: int) -> list[tuple[int, float]]:
    """The MWI candidates of ``seg`` in ``[lo, hi)``: index and value of each.

    A candidate (index >= 1) is positive, rises into its value and no sample within ``d``
    of it exceeds it.

    The same as comparing with :func:`scipy.ndimage.maximum_filter1d` of size ``2 d + 1`` but
    a third of the cost on a frame: a window's largest value is at one of its local maxima
    (the first sample of a plateau stands for it) or at one of its ends, so only those are
    compared, and the MWI has a few local maxima a frame.
    """
    step = seg[1:] - seg[:-1]
    up = step > 0
    pos = ((up[:-1] & (step[1:] <= 0)).nonzero()[0] + 1).tolist()
    if up[-1]:
        pos.append(seg.size - 1)
    if not pos:
        return []
    values = seg[pos].tolist()
    last, count = seg.size - 1, len(pos)
    out = []
    for j, k in enumerate(pos):
        value = values[j]
        if not lo <= k < hi or value <= 0:
            continue
        start, end = max(k - d, 0), min(k + d, last)
        if seg[start] > value or seg[end] > value:
            continue
        i = j - 1
        while i >= 0 and pos[i] >= start and values[i] <= value:
            i -= 1
        if i >= 0 and pos[i] >= start:
            continue
        i = j + 1
        while i < count and pos[i] <= end and values[i] <= value:
            i += 1
        if i < count and pos[i] <= end:
            continue
        out.append((k, value))
    return out


class QrsDetector:
    """Pan-Tompkins QRS detector for one contiguous stream at one rate; one per patient.

    :meth:`push` takes the next samples and returns the R peaks (absolute sample indices)
    decided so far; a QRS is decided about :data:`REFRACTORY_S` after its MWI peak (later
    when found by search-back). :meth:`finish` decides what the end of the stream allows.
    """

    def __init__(self, fs: float, start: int = 0) -> None:
        self.fs = fs
        self._f = f = filters(fs)
        self._slope_zi: NDArray[np.float64] | None = None
        self._wide_zi: NDArray[np.float64] | None = None
        self._sq_tail = np.zeros(f.mwi - 1)
        self.start = start
        self.end = start
        # History of the last samples from self._hist_start: MWI, |slope|, wide-band signal
        # (rows 0-2), self._len of them used; row 2 holds the raw samples from _wide_to on.
        self._hist = np.empty((3, 2 * f.keep))
        self._hist_start = start
        self._len = 0
        self._wide_to = start
        self._scanned = start  # MWI samples before this were examined as candidates
        self._spki = self._npki = 0.0
        self._learned = False
        self._pending: list[tuple[int, float]] = []  # candidates before learning ends
        self._noise_peaks: list[tuple[int, float]] = []  # since the last QRS, for search-back
        self._last_qrs: int | None = None
        self._last_slope = 0.0
        self._anchor = start  # search-back looks for a missed beat SEARCH_BACK RR after it
        self._rr: deque[int] = deque(maxlen=8)
        self._polarity = 0.0  # running sum of the signs of the R peaks
        self.search_backs = 0  # beats found by search-back

    @property
    def nbytes(self) -> int:
        """Bytes of the signal history held."""
        return self._hist.nbytes + self._sq_tail.nbytes

    @property
    def polarity(self) -> int:
        """Sign of the dominant QRS deflection so far (+1, -1; 0 before the first beat)."""
        return 1 if self._polarity > 0 else -1 if self._polarity < 0 else 0

    @property
    def _mwi(self) -> NDArray[np.float64]:
        return self._hist[0, : self._len]

    @property
    def _slope(self) -> NDArray[np.float64]:
        return self._hist[1, : self._len]

    @property
    def _wide(self) -> NDArray[np.float64]:
        return self._hist[2, : self._len]

    def push(self, samples: NDArray[np.float64]) -> list[int]:
        """Feed the next samples (continuing the stream); return the R peaks decided."""
        x = np.asarray(samples, dtype=np.float64)
        n = x.size
        if n == 0:
            return []
        f = self._f
        if self._slope_zi is None or self._wide_zi is None:
            # Start the filters in their steady state for the first value: no step transient.
            self._slope_zi, self._wide_zi = f.slope_zi * x[0], f.wide_zi * x[0]
        slope, self._slope_zi = lfilter(f.slope_b, f.slope_a, x, self._slope_zi)
        # MWI: differences of the running sum of squares, from the previous frame's last
        # mwi - 1 squares (a leading zero makes the first difference a plain sum).
        w = f.mwi
        squared = np.empty(w + n)
        squared[0] = 0.0
        squared[1:w] = self._sq_tail
        np.multiply(slope, slope, out=squared[w:])
        csum = np.cumsum(squared)
        self._sq_tail = squared[n + 1 :]
        self._room(n)
        lo, hi = self._len, self._len + n
        np.divide(np.subtract(csum[w:], csum[:n], out=self._hist[0, lo:hi]), w,
                  out=self._hist[0, lo:hi])
        np.abs(slope, out=self._hist[1, lo:hi])
        self._hist[2, lo:hi] = x  # band-passed when an R peak is looked for (_filter_wide)
        self._len += n
        self.end += n
        return self._scan(final=False)

    def finish(self) -> list[int]:
        """End of the stream: decide the candidates the missing look-ahead held back."""
        return self._scan(final=True)

    def _room(self, n: int) -> None:
        """Make room for ``n`` more samples: drop all but the last :data:`KEEP_S` first."""
        if self._len + n <= self._hist.shape[1]:
            return
        drop = self._len - self._f.keep if self._learned else 0
        if drop > 0:
            self._filter_wide()
            self._hist[:, : self._len - drop] = self._hist[:, drop : self._len]
            self._len -= drop
            self._hist_start += drop
        if self._len + n > self._hist.shape[1]:
            grown = np.empty((3, max(self._len + n, 2 * self._f.keep)))
            grown[:, : self._len] = self._hist[:, : self._len]
            self._hist = grown

    # Candidates and decisions.

    def _scan(self, final: bool) -> list[int]:
        f = self._f
        out: list[int] = []
        limit = self.end if final else self.end - f.refractory
        if not self._learned and (self.end - self.start >= f.learn or final):
            self._learn(out)
        if limit > self._scanned:
            for pos, value in self._candidates(self._scanned, limit):
                if self._learned:
                    self._check_missed(pos, out)
                    self._decide(pos, value, out)
                else:
                    self._pending.append((pos, value))
            self._scanned = limit
        if self._learned:
            self._check_missed(limit, out)
        return out

    def _candidates(self, lo: int, hi: int) -> list[tuple[int, float]]:
        """MWI peaks in ``[lo, hi)`` that are the largest within the refractory both sides."""
        d, base = self._f.refractory, self._hist_start
        a, b = max(lo - d, base), min(hi + d, self.end)
        seg = self._mwi[a - base : b - base]
        if seg.size < 2:  # a peak needs the sample before it (a segment of 2 can hold one)
            return []
        return [(k + a, v) for k, v in window_peaks(seg, lo - a, hi - a, d)]

    def _learn(self, out: list[int]) -> None:
        """Initial levels from the first :data:`LEARN_S` (Pan-Tompkins' learning phase).

        The candidates held meanwhile are then decided on those levels.
        """
        learn = self._mwi[: self._f.learn]
        if learn.size == 0:
            return
        self._spki = float(learn.max()) / 3.0
        self._npki = float(learn.mean()) / 2.0
        self._learned = True
        pending, self._pending = self._pending, []
        for pos, value in pending:
            self._check_missed(pos, out)
            self._decide(pos, value, out)

    @property
    def _threshold(self) -> float:
        return self._npki + 0.25 * (self._spki - self._npki)

    def _mean_rr(self) -> float:
        return sum(self._rr) / len(self._rr) if self._rr else RR_INIT_S * self.fs

    def _decide(self, pos: int, value: float, out: list[int]) -> None:
        last = self._last_qrs
        if last is not None and pos - last < self._f.refractory:
            return
        if value > self._threshold:
            slope = self._max_slope(pos)
            if last is not None and pos - last < self._f.t_wave and slope < 0.5 * self._last_slope:
                self._noise(pos, value)
                return
            self._spki = 0.125 * value + 0.875 * self._spki
            self._qrs(pos, slope, out)
        else:
            self._noise(pos, value)

    def _noise(self, pos: int, value: float) -> None:
        self._npki = 0.125 * value + 0.875 * self._npki
        self._noise_peaks.append((pos, value))

    def _check_missed(self, now: int, out: list[int]) -> None:
        """Search-back: no QRS for :data:`SEARCH_BACK` mean RR: take the best noise peak.

        When none passes the noise threshold, it looks again one mean RR later (several
        beats may be missing; in a pause there is nothing to find).
        """
        last, rr = self._last_qrs, self._mean_rr()
        if last is None or now - self._anchor <= SEARCH_BACK * rr:
            return
        self._anchor += round(rr)
        floor = 0.5 * self._threshold
        best = [(v, p) for p, v in self._noise_peaks
                if v > floor and p - last >= self._f.refractory and p < now]
        if best:
            value, pos = max(best)
            self.search_backs += 1
            self._spki = 0.25 * value + 0.75 * self._spki
            self._qrs(pos, self._max_slope(pos), out)

    def _qrs(self, pos: int, slope: float, out: list[int]) -> None:
        if self._last_qrs is not None:
            rr = pos - self._last_qrs
            mean = self._mean_rr()
            if not self._rr or 0.5 * mean <= rr <= 1.66 * mean:
                self._rr.append(rr)
        self._last_qrs, self._last_slope, self._anchor = pos, slope, pos
        self._noise_peaks = [(p, v) for p, v in self._noise_peaks if p > pos]
        out.append(self._r_peak(pos))

    def _max_slope(self, pos: int) -> float:
        base, w = self._hist_start, self._f.mwi
        seg = self._slope[max(pos - w, base) - base : pos + 1 - base]
        return float(seg.max()) if seg.size else 0.0

    def _filter_wide(self) -> None:
        """Band-pass the raw samples of history row 2 up to the end, the filter's state kept.

        Done when an R peak is looked for (and before history is dropped): one filter call
        a beat instead of one a frame, the same values (the state carries across calls).
        """
        if self._wide_to >= self.end or self._wide_zi is None:
            return
        lo, hi = self._wide_to - self._hist_start, self._len
        f = self._f
        self._hist[2, lo:hi], self._wide_zi = lfilter(f.wide_b, f.wide_a, self._hist[2, lo:hi],
                                                      self._wide_zi)
        self._wide_to = self.end

    def _r_peak(self, pos: int) -> int:
        """The R peak of the QRS whose MWI peak is at ``pos``, in the dominant polarity."""
        self._filter_wide()
        f, base = self._f, self._hist_start
        # The QRS lies in the MWI window before its peak, delayed by the band-pass.
        centre = pos - f.mwi // 2 - f.band_delay + f.wide_delay
        lo = max(centre - f.mwi // 2 - f.r_window, base)
        hi = min(centre + f.r_window + 1, self.end)
        seg = self._wide[lo - base : hi - base]
        if seg.size == 0:
            return max(pos - f.band_delay, self.start)
        up, down = int(np.argmax(seg)), int(np.argmin(seg))
        if self._polarity == 0.0:
            sign = 1.0 if abs(seg[up]) >= abs(seg[down]) else -1.0
        else:
            sign = 1.0 if self._polarity > 0 else -1.0
        pick = up if sign > 0 else down
        self._polarity += 1.0 if abs(seg[up]) >= abs(seg[down]) else -1.0
        return lo + pick - f.wide_delay
