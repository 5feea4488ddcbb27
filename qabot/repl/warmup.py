"""The REPL's background model load: the prompt is shown at once, the first question waits."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..service import QabotService


class Warmup:
    """Loads the model and opens the index in a background thread; ``wait`` re-raises its error."""

    def __init__(self, service: QabotService) -> None:
        self._service = service
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="qabot-warmup", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._service.warm_up()
        except BaseException as exc:  # reported on the first question, not in this thread
            self._error = exc

    def running(self) -> bool:
        """True while the model is still loading."""
        return self._thread.is_alive()

    def wait(self) -> None:
        """Block until warm; raise what went wrong (once), so the question gets a clear error."""
        self._thread.join()
        error, self._error = self._error, None
        if error is not None:
            raise error
