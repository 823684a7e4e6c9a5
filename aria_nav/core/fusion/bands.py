"""Distance bands (very close / close / medium / far) with one-sided hysteresis: an obstacle moves to a nearer
band as soon as it crosses the limit (a warning is never late), and back to a farther band only once it is
`hysteresis_m` beyond the limit, so noise around a limit does not make it flip between bands (and the policy
re-announce it) from one frame to the next."""
from __future__ import annotations

import math
from typing import Optional, Sequence

VERY_CLOSE, CLOSE, MEDIUM, FAR, UNKNOWN = "very_close", "close", "medium", "far", "unknown"
BANDS = (VERY_CLOSE, CLOSE, MEDIUM, FAR)  # nearest first; UNKNOWN: no distance


def band_index(band: str) -> int:
    """0 for very close .. 3 for far; unknown sorts as far."""
    return BANDS.index(band) if band in BANDS else len(BANDS) - 1


def band_of(distance_m: float, limits: Sequence[float], previous: Optional[str] = None,
            hysteresis_m: float = 0.0) -> str:
    """The band of `distance_m` for ascending upper `limits` (e.g. 1.5, 3, 5: beyond the last is far).

    With a `previous` band, a farther band is entered only `hysteresis_m` beyond its limit."""
    if not math.isfinite(distance_m):
        return UNKNOWN
    plain = BANDS[sum(distance_m >= limit for limit in limits)]
    if previous not in BANDS or band_index(plain) <= band_index(previous):
        return plain
    return BANDS[max(band_index(previous), sum(distance_m - hysteresis_m >= limit for limit in limits))]
