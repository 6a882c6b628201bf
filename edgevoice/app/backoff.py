"""Reconnect delays: exponential backoff with full jitter and a cap, as a generator of delays.

`backoff(initial, maximum, multiplier, jitter)` yields the wait before each retry of a run of
failures: the n-th delay is drawn from `[bound_n * (1 - jitter), bound_n]`, where
`bound_n = min(maximum, initial * multiplier ** (n - 1))`. With `jitter = 1` that is "full
jitter" (uniform between 0 and the bound): devices that lost the service together do not all
come back in the same second, and the bound still grows to the cap. A run of failures takes
one generator; the supervisor starts a fresh one once a connection has been stable
(`reconnect.stable_after`), so the next failure waits `initial` again.

`Delays` is what the supervisor is given: a factory of such generators (`delays_from(config)`
builds it from the `[reconnect]` section; tests inject their own, e.g. a fixed `random`).
No I/O here: the caller sleeps.
"""

from __future__ import annotations

import math
import random as _random
from collections.abc import Callable, Iterator

from edgevoice.config import ReconnectConfig

Delays = Callable[[], Iterator[float]]


def backoff(
    initial: float,
    maximum: float,
    multiplier: float = 2.0,
    jitter: float = 1.0,
    *,
    random: Callable[[], float] = _random.random,
) -> Iterator[float]:
    """Delays in seconds for successive failures (endless; see the module docstring).

    `random()` returns a float in [0, 1) (injectable: a test pins it to see the bounds).
    """
    if not (math.isfinite(initial) and initial >= 0 and math.isfinite(maximum)):
        raise ValueError(f"backoff needs finite delays >= 0, not {initial!r} and {maximum!r}")
    if not 0 <= jitter <= 1 or multiplier < 1:
        raise ValueError(f"jitter must be 0-1 and multiplier >= 1, not {jitter!r}, {multiplier!r}")
    bound = min(initial, maximum)
    while True:
        yield bound * (1.0 - jitter * random())
        bound = min(maximum, bound * multiplier)


def delays_from(config: ReconnectConfig, *, random: Callable[[], float] = _random.random) -> Delays:
    """The delay generators for `[reconnect]` (initial_delay, max_delay, multiplier, jitter)."""

    def start() -> Iterator[float]:
        return backoff(
            config.initial_delay,
            config.max_delay,
            config.multiplier,
            config.jitter,
            random=random,
        )

    return start
