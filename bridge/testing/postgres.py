"""A PostgreSQL server for the tests and benchmarks that need one.

`BRIDGE_TEST_POSTGRES_URL` names one to use (a superuser's URL: each test gets a database of
its own). Without it, a throwaway cluster is started in a temporary directory, on a free
port, from the server's binaries if they are installed (Debian's `postgresql` package; as the
`postgres` user when the tests run as root, since `initdb` refuses root). Neither: the tests
skip, saying why. `.ci/run` makes sure CI always has one.

A cluster that need not flush lives in memory (`/dev/shm`) when there is room: nothing of it
is meant to last, and a database is created there in a fifth of the time it takes on a disk.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

ENV = "BRIDGE_TEST_POSTGRES_URL"
# Where a cluster that need not flush is made, if this much is free there.
MEMORY = Path("/dev/shm")
MEMORY_FREE = 1 << 30


def binaries() -> Path | None:
    """Where `initdb` and `pg_ctl` are, newest version first; None when not installed."""
    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(found) / "initdb").exists():
            return Path(found)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_owner(command: list[str]) -> list[str]:
    """`command`, run as `postgres` when we are root (the server refuses to run as root)."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def _scratch(fsync: bool) -> str | None:
    """The directory to make a cluster in: memory when it may and there is room, else the
    system's temporary directory (None)."""
    if fsync or not MEMORY.is_dir():
        return None
    stat = os.statvfs(MEMORY)
    return str(MEMORY) if stat.f_bavail * stat.f_frsize >= MEMORY_FREE else None


def _quietly(command: list[str]) -> None:
    subprocess.run(
        _as_owner(command), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, check=True
    )


@contextmanager
def server(
    *, fsync: bool = False, settings: Mapping[str, str] | None = None
) -> Iterator[str | None]:
    """A superuser's URL of a running server, or None (with no way to get one). A cluster
    of its own flushes nothing to the disk unless `fsync` (a benchmark wants it as it
    would run), and then lives in memory if it can (`_scratch`); it starts with the server
    `settings` given (`{"deadlock_timeout": "100ms"}`), which a server named by the
    environment does not get."""
    given = os.environ.get(ENV)
    if given:
        yield given
        return
    bindir = binaries()
    if bindir is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="hitl-pg-", dir=_scratch(fsync)) as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(tmp, owner.pw_uid, owner.pw_gid)
            os.chown(data, owner.pw_uid, owner.pw_gid)
        _quietly([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"])
        ctl = str(bindir / "pg_ctl")
        log = str(Path(tmp) / "log")
        conf = {"listen_addresses": "127.0.0.1", "fsync": "on" if fsync else "off"}
        conf |= settings or {}
        configured = [f"-c {name}={value}" for name, value in conf.items()]
        # A port free when picked is not reserved: a cluster started at the same moment
        # (another test worker's) may take it first. Then the server does not start: again,
        # on another.
        for tries_left in reversed(range(3)):
            port = _free_port()
            options = " ".join([f"-p {port} -k {tmp}", *configured])
            try:
                _quietly([ctl, "-D", str(data), "-o", options, "-l", log, "-w", "start"])
                break
            except subprocess.CalledProcessError:
                if not tries_left:
                    raise
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(
                _as_owner([ctl, "-D", str(data), "-m", "immediate", "stop"]),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )


def fresh_database(url: str) -> str:
    """A new, empty database on the server `url` names; its URL."""
    import psycopg

    name = f"t{time.time_ns():x}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(url: str, database: str) -> None:
    """Drop `database` (a URL `fresh_database` gave) from the server `url` names, whoever is
    still connected to it: a run of many tests keeps only what the running ones use."""
    import psycopg

    name = database.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
