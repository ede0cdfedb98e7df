"""New image, video and audio files in the capture folders, during a lesson only (watchdog).

The watcher runs from a lesson's start to its end. Of a new file only its extension is kept,
and only if the policy knows it as a capture kind; its name is dropped in the event handler,
because screenshot and Game Bar file names carry window titles. A capture folder that does not
exist yet is watched for from its parent, so the first screenshot ever (which creates the
folder) is seen too.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Collection, Sequence
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    FileCreatedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from agent.probes import Unavailable
from policies import CaptureFileSeen

MAX_PER_SAMPLE = 64
MAX_ANCESTORS = 3  # watch at most this far up for a folder that does not exist yet


def extension(path: str) -> str:
    name = os.path.basename(path)
    stem, dot, ext = name.rpartition(".")
    return "." + ext.casefold() if dot and stem.strip(".") else ""


class _Handler(FileSystemEventHandler):
    def __init__(self, probe: CaptureProbe):
        self.probe = probe

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, DirCreatedEvent):
            self.probe._folder_created(os.fsdecode(event.src_path))
        elif isinstance(event, FileCreatedEvent):
            self.probe._file(os.fsdecode(event.src_path))
        elif isinstance(event, FileMovedEvent):
            self.probe._file(os.fsdecode(event.dest_path))


class CaptureProbe:
    name = "capture_files"

    def __init__(self, folders: Sequence[Path], extensions: Collection[str]):
        self.folders = [Path(f) for f in folders]
        self.extensions = frozenset(e.casefold() for e in extensions)
        self._lock = threading.Lock()
        self._new: list[str] = []
        self._observer: BaseObserver | None = None
        self._watched: set[Path] = set()
        self._started = 0.0

    def start(self) -> None:
        self.stop()
        observer = Observer()
        observer.daemon = True
        self._observer, self._handler = observer, _Handler(self)
        self._watched = set()
        self._started = time.time()
        self._rewatch(initial=True)
        observer.start()

    def stop(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)
        with self._lock:
            self._new.clear()

    def _rewatch(self, initial: bool = False) -> None:
        """Watch each capture folder, or its nearest existing ancestor until it exists."""
        observer = self._observer
        if observer is None:
            return
        for folder in self.folders:
            for candidate in (folder, *folder.parents[:MAX_ANCESTORS]):
                if not candidate.is_dir():
                    continue
                if candidate not in self._watched:
                    observer.schedule(self._handler, str(candidate), recursive=False)
                    self._watched.add(candidate)
                    if candidate == folder and not initial:
                        self._catch_up(folder)
                break

    def _catch_up(self, folder: Path) -> None:
        """Files written into a folder before its watch was in place (``mkdir -p`` then save)."""
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return
        for entry in entries:
            try:
                if entry.is_file() and entry.stat().st_ctime >= self._started:
                    self._file(entry.path)
            except OSError:
                continue

    def _folder_created(self, path: str) -> None:
        folder = Path(path)
        if any(folder == f or folder in f.parents for f in self.folders):
            self._rewatch()

    def _file(self, path: str) -> None:
        if Path(path).parent not in self.folders:
            return  # a file in a watched parent, not in a capture folder
        ext = extension(path)
        if ext in self.extensions:
            with self._lock:
                if len(self._new) < MAX_PER_SAMPLE:
                    self._new.append(ext)

    def sample(self) -> Sequence[CaptureFileSeen]:
        if self._observer is None or not self._observer.is_alive():
            raise Unavailable("capture watcher is not running")
        if not self._watched:
            raise Unavailable("no capture folder exists")
        with self._lock:
            kinds, self._new = sorted(set(self._new)), []
        # Only the extension travels on, as a synthetic name the engine can classify.
        return [CaptureFileSeen(f"new{ext}") for ext in kinds]
