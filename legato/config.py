"""Settings from `LEGATO_*` environment variables (pydantic-settings); embedded defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEGATO_", extra="ignore")

    data_dir: Path = Path(".legato")

    # Temporal: the embedded dev server by default, any cluster / Temporal Cloud by address.
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_tls: bool = False
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None
    temporal_api_key: SecretStr | None = None
    temporal_ui_port: int = 8233
    task_queue: str = "legato"

    # Inventory (TCRR + TCWI): SQLite file by default, PostgreSQL by URL.
    database_url: str | None = None

    # The simulated continuum (the `sim` backends' own state, like an external system's).
    topology: Path = PROJECT_ROOT / "deploy" / "topologies" / "default.yaml"
    sim_database: Path | None = None
    sim_profile: str = "realistic"  # realistic | instant (zero configured latency)

    # Real backends chosen per site in the topology: where the kwok MCM finds its binaries
    # (scripts/testbed.sh prints the folder).
    testbed_bin: Path | None = None

    # API.
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_tokens_file: Path | None = None
    api_tokens: SecretStr | None = None  # "token=tenant,token2=tenant2"

    # TMF APIs: the base of the hrefs in TMF resources and events; the built-in service templates.
    public_url: str | None = None  # default http://<api_host>:<api_port>
    templates_dir: Path = PROJECT_ROOT / "deploy" / "examples"
    # Federation with partner operators: the partners file (ids, URLs, areas, keys, quotas); none: off.
    federation_file: Path | None = None

    # CLI.
    api_url: str = "http://127.0.0.1:8000"
    token: SecretStr | None = None

    # Observability.
    otel_exporter: str = "none"  # none | console | otlp
    otel_endpoint: str = "http://127.0.0.1:4318/v1/traces"
    worker_metrics_address: str | None = None  # e.g. 127.0.0.1:9464: the worker's Prometheus endpoint
    worker_metrics_url: str | None = None  # what the API's /metrics appends (the worker's endpoint)
    reconcile_every_seconds: float = 300.0
    # Rebalancing: `approve` records proposals for an operator; `auto` carries them out.
    rebalance_every_seconds: float = 900.0
    rebalance_mode: Literal["approve", "auto"] = "approve"
    rebalance_min_gain: float = Field(default=0.1, ge=0, le=1)  # relative score gain a move must bring
    # The autopilot: a round (read telemetry, forecast, plan, act or propose, measure) this often.
    autopilot_every_seconds: float = Field(default=60.0, gt=0)
    # Location events (POST /v1/services/{id}/user-locations) applied to a service at most this often.
    user_locations_interval_seconds: float = Field(default=30.0, ge=0)
    log_format: str = "json"  # json | text

    @property
    def inventory_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'inventory.db'}"

    @property
    def public_base(self) -> str:
        return (self.public_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    @property
    def sim_path(self) -> Path:
        return self.sim_database or self.data_dir / "sim.db"

    @property
    def testbed_bin_dir(self) -> Path:
        return self.testbed_bin or Path.home() / ".cache" / "legato" / "testbed" / "current" / "bin"

    @property
    def tokens_path(self) -> Path:
        return self.api_tokens_file or self.data_dir / "tokens.yaml"
