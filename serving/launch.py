"""Starting the service as a background process: ``bentoml serve``, then wait until it answers /readyz.

One way for every caller that needs a running service (the demo, the service benchmark, the tests); each gives its
own deadline. `loopbaan serve` runs the same command in the foreground (:func:`bentoml_command`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from features.errors import LoopbaanError

SERVICE = "serving.service:SuggestionService"
WORKER_STARTED = " initialized"  # BentoML logs "Service <name> initialized" once per worker
ERR_NO_BENTOML = "the bentoml command is not installed: run `make install`"
ERR_SERVICE_EXITED = "the service stopped while starting (exit code {code}); its log: {log}"
ERR_SERVICE_SLOW = "the service was not ready after {seconds} s; its log: {log}"


class ServiceStartError(LoopbaanError):
    """The service exited or was not ready in time (it has been stopped); ``log`` holds its output."""

    def __init__(self, message: str, *, log: Path) -> None:
        super().__init__(message)
        self.log = log


def bentoml_command() -> str:
    """The ``bentoml`` executable of this Python environment (else the one on PATH)."""
    found = shutil.which("bentoml", path=os.path.dirname(sys.executable)) or shutil.which("bentoml")
    if found is None:
        raise LoopbaanError(ERR_NO_BENTOML)
    return found


def serve_command(*, host: str, port: int) -> list[str]:
    return [bentoml_command(), "serve", SERVICE, "--host", host, "--port", str(port)]


def terminate(process: subprocess.Popen) -> None:
    """SIGTERM, and wait for the process to end."""
    process.terminate()
    process.wait(timeout=30)


def start_service(*, home: Path, host: str, port: int, log: Path, timeout_s: float,
                  env: Mapping[str, str] | None = None, cwd: Path | None = None, workers: int = 0,
                  also_ready: Sequence[str] = (), poll_timeout_s: float = 5, new_session: bool = False,
                  stop: Callable[[subprocess.Popen], None] = terminate) -> subprocess.Popen:
    """The service of ``home`` on ``host:port``, started in the background and returned once it answers.

    Ready means /readyz (and every path of ``also_ready``) answers 200, and, when ``workers`` is given, that many
    worker processes have logged their start (a service at rest, for measurements). Its output goes to ``log``.
    ``env`` is added to this process's environment; ``cwd``: where it runs (a checkout to serve the code of);
    ``new_session``: out of this terminal's process group (Ctrl-C reaches only the caller, which stops it).

    Raises :class:`ServiceStartError` (naming ``log``) when the process exits or is not ready within ``timeout_s``;
    on that or any other interruption, ``stop`` is called on the process first.
    """
    import httpx

    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "LOOPBAAN_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true", **(env or {})}
    with log.open("w", encoding="utf-8") as output:
        process = subprocess.Popen(serve_command(host=host, port=port), cwd=cwd, env=environment, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=new_session)
    deadline = time.monotonic() + timeout_s
    try:
        with httpx.Client(base_url=f"http://{host}:{port}", timeout=poll_timeout_s) as client:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise ServiceStartError(ERR_SERVICE_EXITED.format(code=process.returncode, log=log), log=log)
                try:
                    if all(client.get(path).status_code == 200 for path in ("/readyz", *also_ready)) and \
                            (not workers or _started_workers(log) >= workers):
                        return process
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
        raise ServiceStartError(ERR_SERVICE_SLOW.format(seconds=timeout_s, log=log), log=log)
    except BaseException:
        stop(process)
        raise


def _started_workers(log: Path) -> int:
    return log.read_text(encoding="utf-8", errors="replace").count(WORKER_STARTED)
