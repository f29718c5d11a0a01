"""A throwaway PostgreSQL cluster for the tests: ``initdb`` in a temporary folder, ``pg_ctl`` on a free loopback
port, trust authentication on that port only, stopped and removed at the end.

PostgreSQL refuses to run as root, so as root the cluster belongs to the unprivileged user ``nobody``
(``runuser``). :func:`unavailable` says why a cluster cannot be started here (no binaries, no such user), so that the
tests skip with that reason and only then.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

UNPRIVILEGED = "nobody"


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(path.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def unavailable() -> str | None:
    """Why no cluster can be started here, or None when one can."""
    if _binaries() is None:
        return ("PostgreSQL is not installed (no initdb): `make test` installs Debian's postgresql where it may "
                "(root with apt); elsewhere install it to run these tests")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: PostgreSQL cannot be started as an unprivileged user"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Cluster:
    folder: Path
    port: int
    bin: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def database(self) -> str:
        """A new empty database on the cluster; its URL."""
        import psycopg

        name = f"vault_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        _run(self.bin / "pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def _run(*command, check: bool = True) -> subprocess.CompletedProcess:
    command = [str(part) for part in command]
    if os.geteuid() == 0:
        command = ["runuser", "-u", UNPRIVILEGED, "--", *command]
    return subprocess.run(command, check=check, capture_output=True, text=True, timeout=120)


def start() -> Cluster:
    binaries = _binaries()
    folder = Path(tempfile.mkdtemp(prefix="loopbaan-pg-"))
    folder.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(folder, user=UNPRIVILEGED)
    data, socket_dir = folder / "data", folder / "socket"
    _run("mkdir", "-p", socket_dir)
    try:
        _run(binaries / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        for attempt in range(3):
            port = _free_port()
            started = _run(binaries / "pg_ctl", "-D", data, "-l", folder / "server.log", "-w", "-t", "60",
                           "-o", f"-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start",
                           check=False)
            if started.returncode == 0:
                return Cluster(folder=folder, port=port, bin=binaries)
            time.sleep(0.5 * (attempt + 1))
        log = (folder / "server.log").read_text(errors="replace")[-2000:] if (folder / "server.log").exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {started.stderr.strip()} {log}")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
