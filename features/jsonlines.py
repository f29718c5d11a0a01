"""Append-only JSON-lines files (the audit log, the consent store): whole lines only, whichever process writes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path


def append_line(path: Path, entry: dict) -> None:
    """``entry`` as one JSON line in a single ``O_APPEND`` write (owner-only file): never half a line, never two
    interleaved, whichever process writes."""
    line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, line)
    finally:
        os.close(descriptor)


def read_lines(path: Path) -> Iterator[dict]:
    """Every whole JSON object of the file, in order; a line cut short by a crash is skipped."""
    with Path(path).open("rb") as handle:
        for raw in handle:
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if isinstance(entry, dict):
                yield entry
