"""A private PostgreSQL cluster in a temporary dir, from Debian's server binaries, no Docker.

``ensure_postgres_installed`` finds (or, as root, apt-installs) ``initdb``/``pg_ctl``;
``LocalPostgres`` runs a throw-away cluster (durability off) on a free port.
CLI: ``python -m common.infra.postgres_local ensure|run``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType

from common.infra.kafka_local import free_port

_OS_USER = "postgres"
_DB_USER = "postgres"
# Runs beside the cluster: blocks until the parent's end of its stdin pipe closes (the parent
# stopped the cluster or died, even by SIGKILL), then runs the stop command in argv[2:] and
# removes the cluster's temporary dir argv[1].
_WATCHDOG = """
import shutil, subprocess, sys
sys.stdin.buffer.read()
subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
shutil.rmtree(sys.argv[1], ignore_errors=True)
"""
_CREATE_DATABASE_SQL = (
    "SELECT format('CREATE DATABASE %I', :'name') "
    "WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name')\\gexec\n"
)


class PostgresInfraError(RuntimeError):
    """The local PostgreSQL server could not be installed, initialised or started."""


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", bin_dir.parent.name)) or (0,)


def find_pg_bin() -> Path:
    """The newest ``/usr/lib/postgresql/*/bin`` holding ``initdb``, else ``initdb``'s PATH dir."""
    candidates = [path.parent for path in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
    if candidates:
        return max(candidates, key=_version_key)
    initdb = shutil.which("initdb")
    if initdb is not None:
        return Path(initdb).resolve().parent
    raise PostgresInfraError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin "
        "or on PATH: install them with `apt-get install -y postgresql` (Debian/Ubuntu, as root) "
        "or `python -m common.infra.postgres_local ensure` as root"
    )


def ensure_postgres_installed() -> Path:
    """``find_pg_bin()``; if nothing is found and we are root, apt-get install postgresql."""
    with contextlib.suppress(PostgresInfraError):
        return find_pg_bin()
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return find_pg_bin()  # raises the error that says what to install
    print("installing PostgreSQL with apt-get…", file=sys.stderr, flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"],
                    ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]):
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PostgresInfraError(
                f"`{' '.join(command)}` failed:\n{(result.stdout + result.stderr)[-4000:]}")
    return find_pg_bin()


def server_version(bin_dir: Path) -> str:
    """The server's version from ``postgres -V``, e.g. ``"15.18"``."""
    output = subprocess.run([str(bin_dir / "postgres"), "-V"], capture_output=True, text=True,
                            check=True).stdout
    match = re.search(r"\(PostgreSQL\) (\S+)", output)
    return match[1] if match else output.strip()


def _as_server_user() -> list[str]:
    """Command prefix running the server tools as ``postgres`` when we are root (they refuse
    to run as root); empty otherwise."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresInfraError("running as root needs `runuser` (util-linux) to drop to "
                                 f"the {_OS_USER!r} user")
    return [runuser, "-u", _OS_USER, "--"]


class LocalPostgres:
    """A throw-away cluster: trust auth, ``fsync``/``synchronous_commit``/``full_page_writes``
    off, ``max_connections=200``; its files live in a temporary dir removed on ``stop``.

    ``port`` 0 picks a free port on ``host``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host, self._port = host, port
        self._bin: Path | None = None
        self._base: Path | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        """The TCP port (known once started)."""
        if not self._port:
            raise PostgresInfraError("the port is chosen on start(); start the server first")
        return self._port

    @property
    def version(self) -> str:
        """The server's version, e.g. ``"15.18"``."""
        return server_version(self._bin or find_pg_bin())

    def _server_tool(self, name: str, *args: str) -> list[str]:
        assert self._bin is not None
        return [*_as_server_user(), str(self._bin / name), *args]

    def _run(self, command: list[str]) -> None:
        result = subprocess.run(command, capture_output=True, text=True, check=False,
                                start_new_session=True)
        if result.returncode != 0:
            raise PostgresInfraError(
                f"`{' '.join(command)}` failed:\n{result.stdout}{result.stderr}{self._log_tail()}")

    def start(self, timeout: float = 60.0) -> LocalPostgres:
        """Create the cluster and start it, waiting up to ``timeout`` seconds."""
        if self._base is not None:
            return self
        self._bin = ensure_postgres_installed()
        self._base = Path(tempfile.mkdtemp(prefix="kaden-pg-"))
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        assert self._base is not None
        if os.geteuid() == 0:
            user = pwd.getpwnam(_OS_USER)
            os.chown(self._base, user.pw_uid, user.pw_gid)
        data = self._base / "data"
        self._run(self._server_tool("initdb", "-D", str(data), "-U", _DB_USER, "-A", "trust",
                                    "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"))
        if not self._port:
            self._port = free_port(self._host)
        settings = {
            "listen_addresses": f"'{self._host}'", "port": str(self._port),
            "unix_socket_directories": f"'{self._base}'", "max_connections": "200",
            "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
        }
        with (data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        stop = self._server_tool("pg_ctl", "stop", "-D", str(data), "-m", "immediate")
        self._watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(self._base), *stop],
                                          stdin=subprocess.PIPE, start_new_session=True)
        atexit.register(self.stop)
        self._run(self._server_tool("pg_ctl", "start", "-D", str(data), "-l",
                                    str(self._base / "postgres.log"), "-w",
                                    "-t", str(max(1, round(timeout)))))

    def _log_tail(self, lines: int = 30) -> str:
        log = self._base / "postgres.log" if self._base else None
        if log is None or not log.exists():
            return ""
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        return f"\n--- last lines of {log} ---\n" + "\n".join(tail)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its files; idempotent."""
        atexit.unregister(self.stop)
        base, self._base = self._base, None
        if base is None:
            return
        if (base / "data" / "postmaster.pid").exists():
            subprocess.run(self._server_tool("pg_ctl", "stop", "-D", str(base / "data"),
                                             "-m", "fast", "-w"),
                           capture_output=True, check=False)
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            assert watchdog.stdin is not None
            watchdog.stdin.close()
            watchdog.wait()
        shutil.rmtree(base, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def dsn(self, database: str = "postgres", driver: str | None = "asyncpg") -> str:
        """SQLAlchemy URL, e.g. ``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``
        (``driver=None`` gives a plain libpq URL)."""
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{_DB_USER}@{self._host}:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        """Create database ``name`` unless it exists (idempotent)."""
        assert self._bin is not None
        result = subprocess.run(
            [str(self._bin / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"name={name}",
             self.dsn(driver=None)],
            input=_CREATE_DATABASE_SQL, capture_output=True, text=True, check=False,
        )
        if result.returncode != 0 and "already exists" not in result.stderr:  # lost a race
            raise PostgresInfraError(f"creating database {name!r} failed: {result.stderr}")


def main(argv: list[str] | None = None) -> None:
    """CLI: ``ensure`` installs the server if needed; ``run`` serves a cluster until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m common.infra.postgres_local")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("ensure", help="install PostgreSQL (apt-get, as root) if missing")
    run = commands.add_parser("run", help="run a throw-away cluster in the foreground")
    run.add_argument("--port", type=int, default=5432, help="TCP port (0 = any free)")
    args = parser.parse_args(argv)
    if args.command == "ensure":
        bin_dir = ensure_postgres_installed()
        print(f"PostgreSQL {server_version(bin_dir)}: {bin_dir}")
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = LocalPostgres(port=args.port)
    with server, contextlib.suppress(KeyboardInterrupt):
        print(f"PostgreSQL {server.version} ready: {server.dsn(driver=None)}", flush=True)
        signal.pause()


if __name__ == "__main__":
    main()
