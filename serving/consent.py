"""The citizen's own choice about AI suggestions (the site's opt-out switch), append-only and pseudonymised.

Each change is one JSON line ``{time, citizen, opted_out}`` appended with a single ``O_APPEND`` write, so the
service's workers can all write and read it; the latest line of a citizen wins. The citizen appears only as
the audit log's keyed pseudonym. A citizen without a recorded choice keeps the population's default.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

from serving.audit import append_line, pseudonym


class ConsentStore:
    def __init__(self, path: Path, *, key: bytes) -> None:
        self.path = Path(path)
        self.key = key
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None  # (size, mtime_ns) of the file behind ``_choices``
        self._choices: dict[str, bool] = {}

    def choice(self, citizen_id: int) -> bool | None:
        """The citizen's latest recorded choice (True: opted out), or None when they never chose."""
        with self._lock:
            self._refresh()
            return self._choices.get(pseudonym(citizen_id, key=self.key))

    def record(self, citizen_id: int, *, opted_out: bool) -> None:
        entry = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                 "citizen": pseudonym(citizen_id, key=self.key), "opted_out": bool(opted_out)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            append_line(self.path, entry)

    def _refresh(self) -> None:
        try:
            status = self.path.stat()
        except FileNotFoundError:
            self._seen, self._choices = None, {}
            return
        if self._seen == (status.st_size, status.st_mtime_ns):
            return
        choices: dict[str, bool] = {}
        with self.path.open("rb") as handle:
            for raw in handle:
                try:
                    entry = json.loads(raw)
                    choices[str(entry["citizen"])] = bool(entry["opted_out"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a crash
        self._seen, self._choices = (status.st_size, status.st_mtime_ns), choices
