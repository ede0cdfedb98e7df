"""A progress bar for long imports, drawn on stderr only when stderr is a terminal."""

from __future__ import annotations

from typing import TextIO

WIDTH = 30


class Bar:
    """``bar(done, total)`` redraws one line; ``close()`` ends it. Silent off a terminal."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self.active = stream.isatty()
        self.drawn = -1

    def __call__(self, done: int, total: int) -> None:
        if not self.active or total <= 0:
            return
        filled = WIDTH * done // total
        if filled == self.drawn and done != total:
            return  # redraw only when the bar moves: a large file has many events
        self.drawn = filled
        bar = "#" * filled + "-" * (WIDTH - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{total}")
        self.stream.flush()

    def close(self) -> None:
        if self.active and self.drawn >= 0:
            self.stream.write("\n")
            self.stream.flush()
