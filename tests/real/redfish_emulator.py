"""The sushy-tools Redfish emulator with its fake systems driver, on 127.0.0.1, for tests: a real
HTTP Redfish service with basic auth (bcrypt htpasswd) and a fresh state directory per run."""

from __future__ import annotations

import functools
import http.server
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import bcrypt

from legato.devserver import free_port, wait_for_port

USER, PASSWORD = "legato", "s3cret-bmc-pass"


@dataclass
class RedfishEmulator:
    url: str
    credentials_file: Path
    systems: list[str]
    proc: subprocess.Popen
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def start_emulator(work: Path, systems: list[str]) -> RedfishEmulator:
    """One emulator serving `systems` (by name), every one powered off; credentials in a 0600 file."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "htpasswd").write_text(f"{USER}:{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()}\n")
    creds = work / "bmc-credentials"
    creds.write_text(f"{USER}:{PASSWORD}\n")
    creds.chmod(0o600)
    fake = [
        {"uuid": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)), "name": name, "power_state": "Off",
         "external_notifier": False, "nics": [{"mac": f"52:54:00:00:00:{i:02x}", "ip": f"192.0.2.{i + 10}"}]}
        for i, name in enumerate(systems)
    ]  # fmt: skip
    port = free_port()
    (work / "emulator.conf").write_text(
        f"SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\nSUSHY_EMULATOR_LISTEN_PORT = {port}\n"
        f"SUSHY_EMULATOR_FAKE_DRIVER = True\nSUSHY_EMULATOR_FAKE_SYSTEMS = {fake!r}\n"
        f"SUSHY_EMULATOR_STATE_DIR = {str(work / 'state')!r}\n"
        f"SUSHY_EMULATOR_AUTH_FILE = {str(work / 'htpasswd')!r}\n"
    )
    log = work / "emulator.log"
    exe = Path(sys.executable).with_name("sushy-emulator")
    proc = subprocess.Popen([str(exe), "--config", str(work / "emulator.conf")], stdout=log.open("ab"),
                            stderr=subprocess.STDOUT)  # fmt: skip
    wait_for_port(port, 30, proc)
    return RedfishEmulator(f"http://127.0.0.1:{port}", creds, systems, proc, log)


class ImageServer:
    """A plain HTTP server for the OS image that virtual-media boot inserts (the BMC downloads it)."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        (root / "edge-os.iso").write_bytes(b"\0" * 4096)
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
        handler.log_message = lambda *a: None  # type: ignore[attr-defined]
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/edge-os.iso"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ImageServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
