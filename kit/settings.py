"""Node settings, read from the environment (prefix ``ACCORD_``) once, by whoever builds the app."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, IPvAnyNetwork, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: The weakest Argon2id a production node accepts (OWASP Password Storage Cheat Sheet: 19 MiB,
#: 2 passes, 1 lane).
PROD_MIN_MEMORY_KIB = 19 * 1024
PROD_MIN_TIME_COST = 2


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
    trusted_proxies: Annotated[tuple[IPvAnyNetwork, ...], NoDecode] = Field(
        (),
        description="Reverse proxies whose X-Forwarded-For is believed: comma-separated IP "
        "addresses or CIDR networks. Empty: the peer's own address is the client's.",
    )
    max_body_bytes: int = Field(1024 * 1024, gt=0, description="Largest accepted request body.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="The least severe log level written: DEBUG, INFO, WARNING or ERROR."
    )
    log_json: bool = Field(True, description="JSON lines on stdout; false renders for a terminal.")
    master_key: SecretStr | None = Field(
        None,
        description="The node master key, 32 bytes base64url. Wraps every private key and data "
        "key at rest. Prefer ACCORD_MASTER_KEY_FILE in production.",
    )
    master_key_file: Path | None = Field(
        None,
        description="A file holding the master key (the same base64url text; mode 0600). "
        "Used when ACCORD_MASTER_KEY is not set.",
    )
    access_token_ttl_seconds: int = Field(
        600, gt=0, le=3600, description="How long an access token lives (at most an hour)."
    )
    refresh_token_ttl_seconds: int = Field(
        8 * 3600, gt=0, description="How long a person's refresh token lives."
    )
    session_idle_seconds: int = Field(
        30 * 60, gt=0, description="A console session ends after this long without a request."
    )
    session_absolute_seconds: int = Field(
        12 * 3600, gt=0, description="A console session ends this long after sign-in, whatever."
    )
    directory: str | None = Field(
        None, description="The federation directory: a file path or an http(s) URL."
    )
    directory_root_key: str | None = Field(
        None,
        description="The pinned federation root public key: a JWK as JSON, or a file holding one.",
    )
    directory_refresh_seconds: float = Field(
        30.0, gt=0, description="How often the directory is read again for a newer version."
    )
    federation_skew_seconds: int = Field(300, gt=0, description="Clock skew tolerated (±).")
    federation_max_message_bytes: int = Field(
        1024 * 1024, gt=0, description="Largest node-to-node message accepted."
    )
    federation_max_batch_bytes: int = Field(
        16 * 1024 * 1024,
        gt=0,
        description="The largest body of POST /federation/v1/batches this node reads; its "
        "delivery worker also keeps the batches it sends under it.",
    )
    message_ttl_hours: int = Field(7 * 24, gt=0, description="How long a message may wait.")
    background_workers: bool = Field(
        True,
        description="Run the background loops in this process: outbox delivery (unless "
        "ACCORD_DELIVERY_WORKER is false), directory refresh, audit checkpoints and deadline "
        "sweeps. False starts none of them; whoever holds the app drives each step (tests do).",
    )
    delivery_worker: bool = Field(True, description="Deliver the outbox from this process.")
    outbox_poll_seconds: float = Field(
        0.25, gt=0, description="How often the delivery worker looks for messages to send."
    )
    delivery_timeout_seconds: float = Field(
        10.0, gt=0, description="How long one delivery to another node may take."
    )
    delivery_lease_seconds: float = Field(
        30.0,
        gt=0,
        description="How long a worker holds a sender→recipient channel between two messages; "
        "a worker that dies mid-delivery holds it no longer than this. Keep it above "
        "ACCORD_DELIVERY_TIMEOUT_SECONDS.",
    )
    delivery_backoff_base_seconds: float = Field(
        1.0,
        gt=0,
        description="The first wait before a failed delivery is tried again; doubled "
        "at each failure.",
    )
    delivery_backoff_cap_seconds: float = Field(
        300.0, gt=0, description="The longest wait between two delivery attempts."
    )
    referral_sweep_seconds: float = Field(
        30.0, ge=0, description="How often deadlines are swept (0 turns the sweep off)."
    )
    metrics_allowed: Annotated[tuple[IPvAnyNetwork, ...], NoDecode] = Field(
        (IPv4Network("127.0.0.1/32"), IPv6Network("::1/128")),
        description="Addresses that may read /metrics without a token: comma-separated IP "
        "addresses or CIDR networks (behind ACCORD_TRUSTED_PROXIES, the client's address).",
    )
    metrics_token: SecretStr | None = Field(
        None, description="A bearer token that opens /metrics from any address."
    )
    db_pool_size: int = Field(
        10, gt=0, description="Database connections each process keeps (PostgreSQL)."
    )
    idempotency_key_ttl_seconds: int = Field(
        24 * 3600, gt=0, description="How long an Idempotency-Key answers its retries."
    )
    idempotency_claim_lease_seconds: float = Field(
        300,
        gt=0,
        description="How long a request holds its Idempotency-Key before a retry may take it "
        "over (the first request is presumed dead; it can then no longer commit).",
    )
    sqlite_busy_timeout_ms: int = Field(
        10_000, gt=0, description="How long SQLite waits for a lock before giving up."
    )
    audit_checkpoint_every: int = Field(
        100,
        gt=0,
        description="Sign a checkpoint of an agency's audit chain once it has grown this many "
        "events past the last one.",
    )
    audit_checkpoint_max_age_seconds: int = Field(
        3600,
        gt=0,
        description="Also sign one when any event is newer than a checkpoint this old, so a "
        "quiet agency's recent events are anchored too.",
    )
    audit_checkpoint_interval_seconds: float = Field(
        30,
        ge=0,
        description="How often each process looks for due checkpoints; 0 turns it off "
        "(POST /v1/audit/checkpoints still works).",
    )
    event_retention_days: int = Field(
        90,
        ge=30,
        description="Events older than this are pruned from the event log; at least 30, so a "
        "consumer of GET /v1/events that was away for a month can still resume.",
    )
    event_feed_settle_seconds: float = Field(
        2.0,
        ge=0,
        le=60,
        description="GET /v1/events serves only events at least this old: a transaction that "
        "committed a moment late cannot slip an event behind a cursor a poller already holds.",
    )
    webhook_poll_seconds: float = Field(
        1.0, gt=0, description="How often the webhook worker looks for new events and due retries."
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, description="How long one delivery attempt waits for the receiver's answer."
    )
    webhook_retry_hours: float = Field(
        24.0, gt=0, description="How long a delivery is retried before it is `failed`."
    )
    webhook_backoff_base_seconds: float = Field(
        5.0, gt=0, description="The first retry's delay; each later one doubles it, with jitter."
    )
    webhook_backoff_cap_seconds: float = Field(
        3600.0, gt=0, description="The longest delay between two attempts of one delivery."
    )
    webhook_lookback_seconds: float = Field(
        300.0,
        ge=0,
        description="How far behind its cursor the webhook worker looks again for events "
        "that committed after newer ones (the longest a transaction may stay open).",
    )
    webhook_secret_overlap_hours: float = Field(
        24.0, ge=0, description="After a secret rotation, deliveries are signed with both."
    )

    # Argon2id for people's passwords. The defaults are argon2-cffi's own (RFC 9106's second
    # recommended option: 3 passes over 64 MiB, 4 lanes). A hash records its parameters, so
    # hashes made under other ones still verify, and are upgraded at the next sign-in.
    password_time_cost: int = Field(3, ge=1, description="Argon2id passes over memory.")
    password_memory_cost_kib: int = Field(
        65536, ge=8, description="Argon2id memory per hash, in KiB (at least 8 per lane)."
    )
    password_parallelism: int = Field(4, ge=1, description="Argon2id lanes.")

    @field_validator("trusted_proxies", "metrics_allowed", mode="before")
    @classmethod
    def _split_networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @model_validator(mode="after")
    def _argon2_profile(self) -> Settings:
        if self.password_memory_cost_kib < 8 * self.password_parallelism:
            raise ValueError(
                "ACCORD_PASSWORD_MEMORY_COST_KIB must be at least 8 KiB per lane "
                "(ACCORD_PASSWORD_PARALLELISM)"
            )
        # A cheap profile makes tests fast; copied into production it would make stolen hashes
        # cheap to crack. OWASP's floor for Argon2id is 19 MiB and 2 passes.
        if self.env == "prod" and (
            self.password_memory_cost_kib < PROD_MIN_MEMORY_KIB
            or self.password_time_cost < PROD_MIN_TIME_COST
        ):
            raise ValueError(
                f"in prod, Argon2id needs at least {PROD_MIN_MEMORY_KIB} KiB "
                f"(ACCORD_PASSWORD_MEMORY_COST_KIB) and {PROD_MIN_TIME_COST} passes "
                "(ACCORD_PASSWORD_TIME_COST)"
            )
        return self

    @property
    def var_dir(self) -> Path:
        return Path("var")

    @property
    def issuer(self) -> str:
        """The OAuth issuer and JWT audience: this node's public URL, without a trailing slash."""
        return self.public_url.rstrip("/")
