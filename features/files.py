"""Files that other processes read while they are written: whole files and folders swapped in, JSON lines appended.

- :func:`write_atomic` writes a file under a temporary name beside it and renames it over the old one: a reader sees
  the old file or the whole new one. :func:`write_new` does the same but never replaces a file that exists.
- :func:`staged_folder` gives an empty folder beside the target to fill, and swaps it in when the block ends.
- :func:`append_line` appends one line in a single ``O_APPEND`` write, so lines of several processes never mix;
  :func:`read_lines` reads the JSON objects back.

Every writer takes ``durable``. Without it, a crash of the process never leaves half a file, but a crash of the
machine may lose the latest writes: right for caches and what can be rebuilt. With it, the data and the folder
entry are on disk (fsync) before the call returns: for records that are kept (assessments, governance, keys).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

PARTIAL = ".partial"  # the suffix of every temporary file and folder written here
Content = bytes | str | Callable[[BinaryIO], object]  # str is written as UTF-8; a callable writes to the handle


def partial_of(path: Path) -> Path:
    """A temporary name beside ``path``, unique to this call (hidden, ending in :data:`PARTIAL`)."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{PARTIAL}")


def write_atomic(path: Path, content: Content, *, durable: bool, mode: int = 0o666) -> None:
    """``content`` as the file ``path``, replacing any old one whole; ``mode``: permissions of the new file (less
    the umask)."""
    path = Path(path)
    partial = _written_partial(path, content, durable=durable, mode=mode)
    try:
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    if durable:
        _fsync_folder(path.parent)


def write_new(path: Path, content: Content, *, durable: bool, mode: int = 0o666) -> bool:
    """``content`` as the file ``path`` unless it exists (whoever created it first wins); whether this call did."""
    path = Path(path)
    partial = _written_partial(path, content, durable=durable, mode=mode)
    try:
        os.link(partial, path)
    except FileExistsError:
        return False
    finally:
        partial.unlink(missing_ok=True)
    if durable:
        _fsync_folder(path.parent)
    return True


@contextmanager
def staged_folder(out: Path, *, durable: bool, replace: bool = True) -> Iterator[Path]:
    """An empty folder beside ``out`` to fill; when the block ends without error it takes the place of ``out``.

    ``replace``: an existing ``out`` is renamed aside, the staged folder renamed in, and the old one removed. Without
    it an existing ``out`` wins (another process published the same content first) and the staged folder is dropped.
    Whatever happens, no staged folder is left behind.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = partial_of(out)
    try:
        staging.mkdir()
        yield staging
        if durable:
            _fsync_tree(staging)
        if not replace:
            try:
                staging.rename(out)
            except OSError:
                return  # ``out`` exists and is not empty: it stays
        else:
            retired = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
            if out.exists():
                out.rename(retired)
            staging.rename(out)
            shutil.rmtree(retired, ignore_errors=True)
        if durable:
            _fsync_folder(out.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def append_line(path: Path, line: str, *, durable: bool, mode: int, repair_cut_line: bool) -> None:
    """``line`` and a newline appended to ``path`` in a single ``O_APPEND`` write: never two lines mixed, whichever
    process writes.

    ``mode``: permissions of a file this creates (less the umask). ``repair_cut_line``: when the file does not end
    with a newline (a write cut short by a full disk or a crash), start on a new line, so that this line is whole.
    """
    if "\n" in line:
        raise ValueError("append_line writes one line: the text holds a newline")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (line + "\n").encode("utf-8")
    access = os.O_RDWR if repair_cut_line else os.O_WRONLY
    descriptor = os.open(path, access | os.O_APPEND | os.O_CREAT, mode)
    try:
        if repair_cut_line:
            # another writer's line may be half written: its missing newline is no cut, so check and write locked
            fcntl.flock(descriptor, fcntl.LOCK_EX)  # released when the descriptor closes
        size = os.fstat(descriptor).st_size if repair_cut_line else 0
        if size and os.pread(descriptor, 1, size - 1) != b"\n":
            data = b"\n" + data
        os.write(descriptor, data)
        if durable:
            os.fsync(descriptor)
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


def _written_partial(path: Path, content: Content, *, durable: bool, mode: int) -> Path:
    """A temporary file beside ``path`` holding ``content`` (flushed, and fsynced when ``durable``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_of(path)
    try:
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as handle:
            if callable(content):
                content(handle)
            else:
                handle.write(content.encode("utf-8") if isinstance(content, str) else content)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return partial


def _fsync_tree(folder: Path) -> None:
    for root, _, names in os.walk(folder):
        for name in names:
            _fsync_path(Path(root) / name, os.O_RDONLY)
        _fsync_folder(Path(root))


def _fsync_folder(folder: Path) -> None:
    _fsync_path(folder, os.O_RDONLY | os.O_DIRECTORY)


def _fsync_path(path: Path, flags: int) -> None:
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
