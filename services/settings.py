"""Node settings, read from the environment (prefix ``ACCORD_``) once, by whoever builds the app."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a node needs to start. Defaults are safe for a single embedded node."""

    model_config = SettingsConfigDict(env_prefix="ACCORD_", extra="ignore", frozen=True)

    env: Literal["dev", "prod"] = Field(
        "prod", description="`dev` relaxes start-up checks meant for production (e.g. master key)."
    )
    database_url: str = Field(
        "sqlite:///./var/accord.db",
        description="SQLAlchemy URL: sqlite:///path (embedded) or postgresql://user:pass@host/db.",
    )
    public_url: str = Field(
        "http://127.0.0.1:8000", description="The URL other nodes and browsers reach this node at."
    )
    max_body_bytes: int = Field(1024 * 1024, gt=0, description="Largest accepted request body.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = Field(True, description="JSON lines on stdout; false renders for a terminal.")
    db_pool_size: int = Field(10, gt=0)
    sqlite_busy_timeout_ms: int = Field(10_000, gt=0)

    @property
    def var_dir(self) -> Path:
        return Path("var")
