"""A dependency-free progress bar on stderr (silent when stderr is not a terminal, except for the final line)."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    def __init__(self, total: int, label: str, width: int = 30, stream=None):
        self.total, self.label, self.width = max(total, 1), label, width
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self.live = getattr(self.stream, "isatty", lambda: False)()

    def _line(self, done: int) -> str:
        filled = int(self.width * done / self.total)
        elapsed = time.perf_counter() - self.started
        return f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} {elapsed:5.1f}s"

    def update(self, done: int) -> None:
        if self.live:
            self.stream.write("\r" + self._line(done))
            self.stream.flush()

    def close(self) -> None:
        self.stream.write(("\r" if self.live else "") + self._line(self.total) + "\n")
        self.stream.flush()
