"""Progress reporting without printing: the core calls these callbacks, front ends draw them."""

from __future__ import annotations

from collections.abc import Callable

#: ``(stage, done, total)``: lets a front end draw a progress bar without the core printing.
ProgressFn = Callable[[str, int, int], None]
#: Called with how many more items of one stage are done.
ProgressCallback = Callable[[int], None]


class ScaledProgress:
    """Reports progress in units of the ``asked`` texts while only ``encoded`` of them are
    encoded (repeats skipped, sentences pooled from their passage): each encoded item counts for
    ``asked / encoded``, and ``finish`` reports whatever rounding left over."""

    def __init__(self, progress: ProgressCallback | None, asked: int, encoded: int) -> None:
        self._progress = progress
        self._asked = asked
        self._ratio = asked / encoded if encoded else 0.0
        self._reported = 0

    def __call__(self, n: int) -> None:
        step = min(self._asked - self._reported, round(n * self._ratio))
        self._report(step)

    def finish(self) -> None:
        """Report the remainder, so the total reported is exactly ``asked``."""
        self._report(self._asked - self._reported)

    def _report(self, step: int) -> None:
        self._reported += step
        if self._progress is not None and step > 0:
            self._progress(step)
