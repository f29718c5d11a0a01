"""Starting the service and waiting until it is ready (:mod:`serving.launch`), on stand-in processes; the real
service is started this way by the ``service`` fixture (tests/conftest.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from features.errors import LoopbaanError
from serving import launch
from tests.conftest import free_port

# A stand-in for `bentoml serve`: answers every GET with 200 (or 503 until READY_AFTER s have passed) and logs one
# "Service ... initialized" line per worker, the second one WORKER_DELAY s after the first.
_STAND_IN = """
import http.server, sys, threading, time
port, ready_after, worker_delay = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
started = time.monotonic()

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if time.monotonic() - started >= ready_after else 503)
        self.end_headers()

    def log_message(self, *args):
        pass

def workers():
    print("Service SuggestionService initialized", flush=True)
    time.sleep(worker_delay)
    print("Service SuggestionService initialized", flush=True)

threading.Thread(target=workers, daemon=True).start()
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"""


class StandIn:
    """Makes :func:`serving.launch.start_service` run a Python program (given the port) instead of BentoML, and
    records the processes it stops."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch, self.stopped = monkeypatch, []

    def run(self, code: str, *args: str) -> None:
        self.monkeypatch.setattr(launch, "serve_command",
                                 lambda *, host, port: [sys.executable, "-c", code, str(port), *args])

    def stop(self, process: subprocess.Popen) -> None:
        self.stopped.append(process)
        launch.terminate(process)


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> StandIn:
    return StandIn(monkeypatch)


def test_a_started_service_is_returned_once_it_answers_readyz(stand_in: StandIn, tmp_path: Path) -> None:
    stand_in.run(_STAND_IN, "1.0", "0")
    process = launch.start_service(home=tmp_path, host="127.0.0.1", port=free_port(), log=tmp_path / "logs" / "s.log",
                                   timeout_s=30, stop=stand_in.stop)
    try:
        assert process.poll() is None
    finally:
        launch.terminate(process)


def test_the_wait_for_workers_waits_until_each_has_logged_its_start(stand_in: StandIn, tmp_path: Path) -> None:
    stand_in.run(_STAND_IN, "0", "2.0")
    log = tmp_path / "s.log"
    started = time.monotonic()
    process = launch.start_service(home=tmp_path, host="127.0.0.1", port=free_port(), log=log, timeout_s=30,
                                   workers=2, stop=stand_in.stop)
    try:
        assert time.monotonic() - started >= 2.0
        assert log.read_text().count(launch.WORKER_STARTED) == 2
    finally:
        launch.terminate(process)


def test_a_service_that_exits_while_starting_fails_naming_its_code_and_log(stand_in: StandIn, tmp_path: Path) -> None:
    stand_in.run("import sys; print('cannot load the models'); sys.exit(3)")
    log = tmp_path / "s.log"
    with pytest.raises(launch.ServiceStartError) as failure:
        launch.start_service(home=tmp_path, host="127.0.0.1", port=free_port(), log=log, timeout_s=30,
                             stop=stand_in.stop)
    assert str(failure.value) == launch.ERR_SERVICE_EXITED.format(code=3, log=log)
    assert failure.value.log == log and "cannot load the models" in log.read_text()
    assert len(stand_in.stopped) == 1


def test_a_service_not_ready_in_time_is_stopped_and_named(stand_in: StandIn, tmp_path: Path) -> None:
    stand_in.run(_STAND_IN, "600", "0")  # answers 503 throughout
    log = tmp_path / "s.log"
    with pytest.raises(launch.ServiceStartError, match="not ready after 2 s") as failure:
        launch.start_service(home=tmp_path, host="127.0.0.1", port=free_port(), log=log, timeout_s=2,
                             stop=stand_in.stop)
    assert str(log) in str(failure.value)
    assert len(stand_in.stopped) == 1 and stand_in.stopped[0].poll() is not None


def test_every_path_asked_for_must_answer(stand_in: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A readiness check that ignored ``also_ready`` would return at once; this one waits out the deadline."""
    stand_in.run(_STAND_IN, "0", "0")
    real_get = httpx.Client.get

    def get(self, url, **kwargs):
        response = real_get(self, url, **kwargs)
        return httpx.Response(404) if url == "/metadata" else response

    monkeypatch.setattr(httpx.Client, "get", get)
    with pytest.raises(launch.ServiceStartError, match="not ready after 2 s"):
        launch.start_service(home=tmp_path, host="127.0.0.1", port=free_port(), log=tmp_path / "s.log",
                             timeout_s=2, also_ready=("/metadata",), stop=stand_in.stop)


def test_the_demo_starts_its_service_this_way_and_names_the_log_when_it_fails(stand_in: StandIn,
                                                                              tmp_path: Path) -> None:
    from features.settings import Settings
    from loopbaan_cli import demo

    settings = Settings(home=tmp_path)
    stand_in.run(_STAND_IN, "0", "0")
    process, log = demo.start_service(settings, host="127.0.0.1", port=free_port(), allow_challenger=True,
                                      oidc_issuer=None)
    try:
        assert log == tmp_path / "logs" / "service.log" and process.poll() is None
    finally:
        demo.stop_service(process)
    assert process.poll() is not None

    stand_in.run("import sys; sys.exit(4)")
    with pytest.raises(LoopbaanError, match=r"stopped while starting \(exit code 4\); its log: .*service\.log"):
        demo.start_service(settings, host="127.0.0.1", port=free_port(), allow_challenger=True, oidc_issuer=None)
