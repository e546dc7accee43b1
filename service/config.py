"""Settings from the environment (WARMSTART_*), with validators that refuse unsafe combinations."""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MAX_PENDING_TIMEOUT_S = 30 * 24 * 3600.0  # 30 days


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WARMSTART_", env_file=None, extra="ignore")

    data_dir: Path = Field(
        default_factory=lambda: Path(user_data_dir("warmstart", appauthor=False)),
        description="Where the embedded SQLite file, raw uploads and model files live.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: SQLite at DATA_DIR/warmstart.sqlite. "
        "Teams: postgresql+psycopg://user@host/db",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    auth: Literal["auto", "required"] = Field(
        default="auto",
        description="auto: without any API key the service is open, but only on loopback; "
        "required: every request needs a key.",
    )
    max_upload_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    max_columns: int = Field(default=5_000, gt=1)
    min_rows: int = Field(default=10, ge=2)
    load_bundled_kb: bool = Field(
        default=True, description="Load the bundled knowledge base into an empty metastore."
    )
    embedded_worker: bool = Field(
        default=True,
        description="Run one job worker inside `warmstart serve`, so one process does everything. "
        "Turn it off where `warmstart worker` processes run beside the service.",
    )
    job_poll_s: float = Field(default=1.0, gt=0, description="How often an idle worker looks for jobs.")
    job_heartbeat_s: float = Field(default=5.0, gt=0, description="How often a busy worker says it is alive.")
    job_grace_s: float = Field(
        default=60.0, gt=0, description="Heartbeat age after which a job's worker counts as dead."
    )
    job_retry_base_s: float = Field(
        default=10.0,
        ge=0,
        description="Back-off before a failed job's 2nd attempt; it doubles per attempt (with jitter).",
    )
    job_retry_cap_s: float = Field(default=600.0, ge=0, description="The longest back-off between attempts.")
    # 6 hours: a harness fit of a big dataset can take an hour, so a shorter default would expire
    # live trials; a crashed worker's trial still frees its slot within a working day.
    study_pending_timeout_s: float = Field(
        default=21_600.0,
        ge=1,
        le=MAX_PENDING_TIMEOUT_S,
        description="A new study's default pending_timeout_s: seconds after which a trial handed out "
        "and never reported counts as expired (its worker is presumed dead).",
    )

    @model_validator(mode="after")
    def _grace_outlasts_heartbeats(self) -> Settings:
        if self.job_grace_s < 2 * self.job_heartbeat_s:
            raise ValueError(
                f"job_grace_s ({self.job_grace_s}) must be at least twice job_heartbeat_s "
                f"({self.job_heartbeat_s}), or live workers would lose their jobs"
            )
        return self

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+pysqlite:///{self.data_dir / 'warmstart.sqlite'}"

    @property
    def is_embedded(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    def prepare_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
