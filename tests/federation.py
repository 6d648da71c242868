"""Two Legatos on one machine, federated: each with its own Temporal dev server, inventory,
continuum, API port and Ed25519 key; the partners file of each names the other."""

from __future__ import annotations

from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from legato.devserver import DevServer, free_port
from legato.federation.partners import Federation, load_federation, private_pem, public_pem
from tests.stack import Stack, running_stack

TOPOLOGIES = Path(__file__).resolve().parent.parent / "deploy" / "topologies"
HOME, PARTNER, DOWN = "op-fr", "op-es", "op-pt"

# The federated service of the tests and the replay suite: roaming users, its edge-app serving Madrid,
# which the home operator hands to its partner.
ROAMING = {
    "name": "roaming-app",
    "components": [
        {"name": "web", "image": "nginx", "cpu": 1},
        {"name": "edge-app", "image": "edge", "version": "1.0", "cpu": 2, "replicas": 2},
        {"name": "cache", "image": "redis", "colocate_with": ["edge-app"]},
    ],
    "links": [{"from": "web", "to": "edge-app"}, {"from": "edge-app", "to": "cache"}],
    "user_areas": [{"area": "paris-center", "component": "web"}, {"area": "madrid", "component": "edge-app"}],
}


def write_keys(directory: Path, name: str) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.pem").write_bytes(private_pem(key))
    (directory / f"{name}.pub.pem").write_bytes(public_pem(key))
    return key


def write_partners_file(path: Path, self_id: str, partners: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"self": {"id": self_id, "private_key_file": f"{self_id}.pem"},
                                    "partners": partners}))
    return path


@dataclass
class Side:
    """One Legato: its dev server, settings overrides and (while running) its stack."""

    name: str
    data: Path
    api_port: int
    overrides: dict
    server: DevServer
    stack: Stack | None = None
    worker: str = "inline"
    exits: AsyncExitStack = field(default_factory=AsyncExitStack)

    async def start(self) -> Stack:
        if self.server.proc is None or self.server.proc.poll() is not None:
            self.server.start()
        self.stack = await self.exits.enter_async_context(running_stack(
            self.data / "legato", self.server.address, worker=self.worker, api_port=self.api_port, **self.overrides))
        return self.stack

    async def stop(self) -> None:
        await self.exits.aclose()
        self.stack = None

    def federation(self) -> Federation:
        return load_federation(self.overrides["federation_file"])


@asynccontextmanager
async def federated_pair(tmp: Path, partner_quota: dict | None = None, partner_worker: str = "inline"):
    """(home, partner): home has the default continuum (France, Germany, Italy) and the partner
    Spain's; a third partner, DOWN, is configured at home but nothing listens at its address."""
    keys = tmp / "keys"
    for name in (HOME, PARTNER, DOWN):
        write_keys(keys, name)
    home_port, partner_port = free_port(), free_port()
    home_file = write_partners_file(keys / "home.yaml", HOME, [
        {"id": PARTNER, "name": "Operator ES", "base_url": f"http://127.0.0.1:{partner_port}",
         "areas": ["madrid", "barcelona"], "countries": ["ES"], "public_key_file": f"{PARTNER}.pub.pem",
         "quota": {"max_services": 5, "max_vcpu": 64}, "max_attempts": 3},
        {"id": DOWN, "name": "Operator PT", "base_url": f"http://127.0.0.1:{free_port()}", "areas": ["lisbon"],
         "public_key_file": f"{DOWN}.pub.pem", "max_attempts": 3},
    ])
    partner_file = write_partners_file(keys / "partner.yaml", PARTNER, [
        {"id": HOME, "name": "Operator FR", "base_url": f"http://127.0.0.1:{home_port}", "areas": [],
         "public_key_file": f"{HOME}.pub.pem", "quota": partner_quota or {"max_services": 3, "max_vcpu": 16}},
    ])
    sides = []
    for name, port, topology, file, worker in (
        ("home", home_port, "default.yaml", home_file, "inline"),
        ("partner", partner_port, "partner-es.yaml", partner_file, partner_worker),
    ):
        data = tmp / name
        server = DevServer(data / "temporal.db", port=free_port(), ui_port=None, log_file=data / "temporal.log")
        sides.append(Side(name, data, port, {"topology": TOPOLOGIES / topology, "federation_file": file,
                                             "task_queue": f"legato-{name}"},
                          server, worker=worker))
    try:
        for side in sides:
            await side.start()
        yield sides[0], sides[1]
    finally:
        for side in reversed(sides):
            await side.stop()
            side.server.stop()
