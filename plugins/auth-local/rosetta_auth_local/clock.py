"""The time the plugin reads: wall-clock seconds, replaceable per kernel so tests need not sleep.

Rate-limit counts, sessions and token use are stamped with :func:`now`; the stamps are Unix
seconds, so processes sharing a store agree on them.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rosetta_core.kernel import Kernel

Clock = Callable[[], float]

_clocks: weakref.WeakKeyDictionary[Kernel, Clock] = weakref.WeakKeyDictionary()


def now(kernel: Kernel) -> float:
    """The current time for ``kernel`` in Unix seconds (``time.time`` unless replaced)."""
    return _clocks.get(kernel, time.time)()


def use_clock(kernel: Kernel, clock: Clock | None) -> None:
    """Make ``kernel``'s plugin functions read ``clock``; ``None`` goes back to ``time.time``."""
    if clock is None:
        _clocks.pop(kernel, None)
    else:
        _clocks[kernel] = clock
