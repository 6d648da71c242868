"""A throwaway PostgreSQL server for the tests (the Debian `postgresql` package's binaries)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

from legato.devserver import free_port, wait_for_port


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class Postgres:
    """initdb + postgres on a loopback port; runs as the `postgres` user when we are root (it refuses root)."""

    def __init__(self, root: Path):
        self.bin = pg_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
        self.root, self.port = root, free_port()
        self.data = root / "data"
        self.proc: subprocess.Popen | None = None

    def _as_owner(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args

    def start(self) -> Postgres:
        if self.data.exists():  # a restart: same data, same port
            return self._serve()
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            os.chmod(self.root, 0o755)
            for parent in list(self.root.parents)[:-1]:
                os.chmod(parent, os.stat(parent).st_mode | 0o011)  # let postgres traverse to its folder
        subprocess.run(self._as_owner([str(self.bin / "initdb"), "-D", str(self.data), "-U", "legato",
                                       "--auth=trust", "-E", "UTF8"]), check=True, capture_output=True)
        return self._serve()

    def _serve(self) -> Postgres:
        self.proc = subprocess.Popen(
            self._as_owner([str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
                            "-h", "127.0.0.1", "-k", str(self.root)]),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, 30, self.proc)
        return self

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://legato@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends, as a crash of the server does; start() brings it
        back on the same data (it recovers from its WAL)."""
        pid_file = self.data / "postmaster.pid"
        postmaster = int(pid_file.read_text().split()[0]) if pid_file.exists() else None
        if postmaster is not None:
            subprocess.run(["pkill", "-KILL", "-P", str(postmaster)], check=False)
            subprocess.run(["kill", "-KILL", str(postmaster)], check=False)
        if self.proc is not None:
            self.proc.wait(20)
