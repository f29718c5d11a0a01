"""The one writer of whole files and folders and the one appender of JSON lines (:mod:`features.files`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from features import files
from features.files import PARTIAL, append_line, read_lines, staged_folder, write_atomic, write_new
from tests.conftest import PROJECT_ROOT


def _hidden(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every descriptor fsynced meanwhile (the real fsync still runs)."""
    calls: list[int] = []
    real = os.fsync

    def counted(descriptor: int) -> None:
        calls.append(descriptor)
        real(descriptor)

    monkeypatch.setattr(files.os, "fsync", counted)
    return calls


# --- whole files -----------------------------------------------------------------------------------------------

def test_an_atomic_write_replaces_the_file_whole_from_text_bytes_or_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "file.txt"
    write_atomic(path, "één\n", durable=False)
    assert path.read_bytes() == "één\n".encode()
    write_atomic(path, b"\x00\x01", durable=False)
    assert path.read_bytes() == b"\x00\x01"
    write_atomic(path, lambda handle: handle.write(b"written"), durable=False)
    assert path.read_bytes() == b"written"
    assert _hidden(path.parent) == []


def test_an_atomic_write_that_fails_midway_leaves_the_old_file_and_no_temporary_one(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    write_atomic(path, '{"old": true}\n', durable=True)

    def half_then_fail(handle) -> None:
        handle.write(b'{"new": ')
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        write_atomic(path, half_then_fail, durable=True)
    assert path.read_text() == '{"old": true}\n'
    assert sorted(path.name for path in tmp_path.iterdir()) == ["record.json"]


def test_a_durable_write_fsyncs_the_file_and_its_folder_and_a_plain_one_does_not(tmp_path: Path,
                                                                                  fsyncs: list[int]) -> None:
    write_atomic(tmp_path / "plain", "x", durable=False)
    assert fsyncs == []
    write_atomic(tmp_path / "kept", "x", durable=True)
    assert len(fsyncs) == 2
    assert write_new(tmp_path / "key", "x", durable=True) is True
    assert len(fsyncs) == 4


def test_a_new_file_never_replaces_one_that_exists(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    assert write_new(path, "first", durable=False, mode=0o600) is True
    assert write_new(path, "second", durable=False, mode=0o600) is False
    assert path.read_text() == "first" and path.stat().st_mode & 0o777 == 0o600
    assert _hidden(tmp_path) == []


# --- folders ---------------------------------------------------------------------------------------------------

def test_a_staged_folder_takes_the_place_of_the_old_one_whole(tmp_path: Path) -> None:
    out = tmp_path / "population"
    with staged_folder(out, durable=False) as staging:
        (staging / "a").write_text("1")
    with staged_folder(out, durable=False) as staging:
        assert not (staging / "a").exists()
        (staging / "b").write_text("2")
    assert sorted(path.name for path in out.iterdir()) == ["b"]
    assert _hidden(tmp_path) == []


def test_a_staged_folder_that_fails_leaves_the_old_one_and_no_staging(tmp_path: Path) -> None:
    out = tmp_path / "population"
    with staged_folder(out, durable=False) as staging:
        (staging / "a").write_text("1")
    with pytest.raises(RuntimeError), staged_folder(out, durable=False) as staging:
        (staging / "b").write_text("2")
        raise RuntimeError("generator failed")
    assert sorted(path.name for path in out.iterdir()) == ["a"]
    assert _hidden(tmp_path) == []


def test_a_staged_folder_without_replace_keeps_what_another_process_published_first(tmp_path: Path) -> None:
    out = tmp_path / "index"
    with staged_folder(out, durable=False, replace=False) as staging:
        (staging / "first").write_text("1")
    with staged_folder(out, durable=False, replace=False) as staging:
        (staging / "second").write_text("2")
    assert sorted(path.name for path in out.iterdir()) == ["first"]
    assert _hidden(tmp_path) == []


def test_a_durable_staged_folder_fsyncs_every_file_and_folder(tmp_path: Path, fsyncs: list[int]) -> None:
    with staged_folder(tmp_path / "plain", durable=False) as staging:
        (staging / "a").write_text("1")
    assert fsyncs == []
    with staged_folder(tmp_path / "kept", durable=True) as staging:
        (staging / "sub").mkdir()
        (staging / "a").write_text("1")
        (staging / "sub" / "b").write_text("2")
    assert len(fsyncs) == 5  # two files, the staged folder and its subfolder, the parent after the swap


# --- appended lines --------------------------------------------------------------------------------------------

def test_an_appended_line_after_a_cut_short_one_starts_on_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "log" / "records.jsonl"
    append_line(path, '{"n":1}', durable=False, mode=0o600, repair_cut_line=True)
    with path.open("a") as handle:
        handle.write('{"n":2,"cut')  # a write cut short by a crash
    append_line(path, '{"n":3}', durable=False, mode=0o600, repair_cut_line=True)
    assert path.read_text() == '{"n":1}\n{"n":2,"cut\n{"n":3}\n'
    assert [entry["n"] for entry in read_lines(path)] == [1, 3]
    assert path.stat().st_mode & 0o777 == 0o600


def test_without_repair_a_line_after_a_cut_short_one_is_lost_with_it(tmp_path: Path) -> None:
    """What the repair is for: the same cut without it glues the next line to the broken one."""
    path = tmp_path / "records.jsonl"
    path.write_text('{"n":1}\n{"n":2,"cut')
    append_line(path, '{"n":3}', durable=False, mode=0o600, repair_cut_line=False)
    assert [entry["n"] for entry in read_lines(path)] == [1]


def test_an_appended_line_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="newline"):
        append_line(tmp_path / "x.jsonl", '{"a":1}\n{"b":2}', durable=False, mode=0o600, repair_cut_line=False)


def test_a_durable_append_fsyncs_and_a_plain_one_does_not(tmp_path: Path, fsyncs: list[int]) -> None:
    append_line(tmp_path / "x.jsonl", "{}", durable=False, mode=0o600, repair_cut_line=True)
    assert fsyncs == []
    append_line(tmp_path / "x.jsonl", "{}", durable=True, mode=0o600, repair_cut_line=True)
    assert len(fsyncs) == 1


_APPENDER = """
import sys
from features.files import append_line
writer, lines, repair = int(sys.argv[1]), int(sys.argv[2]), sys.argv[4] == "repair"
for number in range(lines):
    append_line(sys.argv[3], '{"writer":%d,"n":%d,"pad":"%s"}' % (writer, number, str(writer) * 6000),
                durable=False, mode=0o600, repair_cut_line=repair)
"""


@pytest.mark.parametrize("repair", ["repair", "plain"])
def test_appends_of_several_processes_at_once_never_interleave(tmp_path: Path, repair: str) -> None:
    path, writers, lines = tmp_path / "shared.jsonl", 4, 150
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    processes = [subprocess.Popen([sys.executable, "-c", _APPENDER, str(writer), str(lines), str(path), repair],
                                  env=env) for writer in range(writers)]
    assert [process.wait(timeout=120) for process in processes] == [0] * writers
    raw = path.read_bytes().split(b"\n")
    assert raw[-1] == b"" and len(raw) == writers * lines + 1
    entries = [json.loads(line) for line in raw[:-1]]
    assert all(entry["pad"] == str(entry["writer"]) * 6000 for entry in entries)
    for writer in range(writers):
        assert [entry["n"] for entry in entries if entry["writer"] == writer] == list(range(lines))


def test_temporary_names_are_hidden_beside_the_target_and_unique(tmp_path: Path) -> None:
    first, second = files.partial_of(tmp_path / "a.json"), files.partial_of(tmp_path / "a.json")
    assert first != second and first.parent == tmp_path
    assert first.name.startswith(".a.json.") and first.name.endswith(PARTIAL)
