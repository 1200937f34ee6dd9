"""The platform clock. Deadlines are computed from it, so tests and the open-data replay can move
time instead of sleeping.

CONCILIA_CLOCK_FILE unset: the system clock. Set: a controlled clock shared by every process on the
host, whose file holds an ISO-8601 instant ("2014-05-07T10:00:00+00:00") and which keeps that
instant until the file changes. Only ever set it in development, tests and replays.
"""
import os
import threading
from datetime import datetime, timezone
from pathlib import Path


class SystemClock:
    controlled = False

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FileClock:
    controlled = True

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._cached: tuple[int, datetime] | None = None

    def now(self) -> datetime:
        try:
            stamp = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return datetime.now(timezone.utc)
        with self._lock:
            if self._cached and self._cached[0] == stamp:
                return self._cached[1]
            text = self.path.read_text().strip()
            instant = datetime.fromisoformat(text) if text else datetime.now(timezone.utc)
            if instant.tzinfo is None:
                instant = instant.replace(tzinfo=timezone.utc)
            self._cached = (stamp, instant)
            return instant

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=timezone.utc)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(instant.isoformat())
        os.replace(tmp, self.path)  # atomic: readers see the old or the new instant, never half


def clock_from_env() -> SystemClock | FileClock:
    path = os.environ.get("CONCILIA_CLOCK_FILE")
    return FileClock(path) if path else SystemClock()
