"""A throw-away PostgreSQL server for the test session, from the locally installed binaries.

Debian's `postgresql` package puts initdb and pg_ctl in /usr/lib/postgresql/<version>/bin (not on
PATH); STEWARD_PG_BIN may name another folder. The cluster lives in a temporary folder, listens
on 127.0.0.1 on a free port with trust authentication, runs without fsync (tests need no
durability), and is stopped and removed at the end of the session. PostgreSQL refuses to run as
root, so under root the cluster belongs to the `postgres` user and every command runs through
`runuser -u postgres --`.

Without the binaries the PostgreSQL tests are skipped with the reason, except under CI (CI=true),
where they fail: CI must always run them.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

USER = "steward"


def find_bin_dir() -> Path | None:
    configured = os.environ.get("STEWARD_PG_BIN")
    candidates = [Path(configured)] if configured else []
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def missing(reason: str) -> None:
    """Skip, or fail under CI."""
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"CI must run the PostgreSQL tests, but {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL tests not run: {reason}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="steward-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._names = itertools.count(1)
        self._as: list[str] = []
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                missing("running as root needs the `postgres` user (Debian's package makes it)")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self._as, *args], capture_output=True, text=True, timeout=timeout, check=False
        )

    def start(self) -> None:
        init = self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            USER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        if init.returncode:
            raise RuntimeError(f"initdb failed: {init.stderr or init.stdout}")
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        started = self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "start",
        )
        if started.returncode:
            log = (self.root / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"pg_ctl start failed: {started.stderr}\n{log}")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        made = subprocess.run(  # a client: any user may run it
            [str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, name],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if made.returncode:
            raise RuntimeError(f"createdb failed: {made.stderr}")
        return self.url(name)


# --- the polling lock (storage.database), as another process would see and take it -----------

_LOCK_HOLDER = (
    "SELECT pid FROM pg_locks WHERE locktype='advisory' AND granted "
    "AND ((classid::bigint << 32) | objid::bigint) = ?"
)


async def polling_lock_holder(admin: Any) -> int | None:
    """The server process (pid) of the session holding the polling lock, if any; `admin`: a
    storage.database.Database on the same database."""
    from storage.database import _POLLING_LOCK_KEY

    row = await admin.fetchone(_LOCK_HOLDER, (_POLLING_LOCK_KEY,))
    return int(row["pid"]) if row else None


async def end_polling_session(admin: Any, *, take: bool = False) -> int:
    """End the session holding the polling lock (pg_terminate_backend, as an operator or a
    failover would); `take`: and take the lock on `admin`'s session before its holder can take
    it back (new connections to the database are refused meanwhile). The pid that was ended."""
    from storage.database import _POLLING_LOCK_KEY

    pid = await polling_lock_holder(admin)
    assert pid is not None, "nobody holds the polling lock"
    if not take:
        await admin.execute("SELECT pg_terminate_backend(?, 5000)", (pid,))
        return pid
    import asyncpg

    name = (await admin.fetchone("SELECT current_database() AS name"))["name"]
    # a database refuses new connections only when told from another one
    maintenance = await asyncpg.connect(admin.url.rsplit("/", 1)[0] + "/postgres")
    try:
        await maintenance.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            await admin.execute("SELECT pg_terminate_backend(?, 5000)", (pid,))
            taken = await admin.fetchone(
                "SELECT pg_try_advisory_lock(?) AS taken", (_POLLING_LOCK_KEY,)
            )
            assert taken["taken"]
        finally:
            await maintenance.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    finally:
        await maintenance.close()
    return pid
