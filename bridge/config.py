"""Settings, read from the environment and `.env` (the environment wins).

`load_settings()` turns every problem into one line naming the variable, so the CLI can
print them all and exit with code 2. Secrets are `SecretStr`: they never show in a repr,
a log line or an error.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

_URL = re.compile(r"https?://[^\s/]+(/\S*)?$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Bound:
    """The values a number may take: `low` to `high`, and 0 as well when 0 means `off`."""

    low: float
    high: float
    unit: str
    off: str | None = None  # what 0 means ("never", "no limit"); None: 0 is refused
    whole: bool = False

    def allows(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        return (self.off is not None and value == 0) or self.low <= value <= self.high

    @property
    def expected(self) -> str:
        zero = f"0 ({self.off}) or " if self.off else ""
        kind = "a whole number" if self.whole else "a number"
        return f"must be {zero}{kind} from {_number(self.low)} to {_number(self.high)}{self.unit}"


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


DAYS_30 = 30 * 24 * 3600
_UP_TO_30_DAYS = " seconds (30 days)"
# Every number a setting holds, bounded: infinity, NaN and absurd values would otherwise
# pass (an infinite timeout crashes the timers, a nanosecond one spins them). Sub-second
# timers stay allowed: tests and demos run on short clocks.
BOUNDS: dict[str, Bound] = {
    "slack_rate": Bound(0.01, 100, " posts a second", off="no self-pacing"),
    "slack_burst": Bound(1, 100, " posts", whole=True),
    "slack_tiers": Bound(0.01, 100, " times the published tiers", off="only Slack's 429s"),
    "max_body": Bound(1024, 100 * 1024 * 1024, " bytes (100 MiB)", whole=True),
    "assign_timeout": Bound(0.1, DAYS_30, _UP_TO_30_DAYS, off="never"),
    "remind_after": Bound(0.1, DAYS_30, _UP_TO_30_DAYS, off="never"),
    "approval_timeout": Bound(10, 7 * 24 * 3600, " seconds (7 days)"),
    "remind_repeat": Bound(1, 100, " reminders", whole=True),
    "idle_reminder": Bound(0.1, DAYS_30, _UP_TO_30_DAYS, off="never"),
    "retry_base": Bound(0.01, 3600, " seconds (1 hour)"),
    "retry_max": Bound(0.01, 24 * 3600, " seconds (1 day)"),
    "delivery_max_age": Bound(0.1, DAYS_30, _UP_TO_30_DAYS, off="forever"),
    "delivery_max_attempts": Bound(1, 10_000, " attempts", off="no limit", whole=True),
}
# The shortest bearer token `serve` and `check` accept: a short one can be guessed.
MIN_TOKEN_LENGTH = 16


class ConfigError(Exception):
    """Settings that cannot run; `problems` holds one line per variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


_SOURCES = SettingsConfigDict(
    env_file=".env",
    env_file_encoding="utf-8",
    extra="ignore",
    populate_by_name=True,
    env_ignore_empty=True,  # `NAME=` in .env means unset, as in .env.example
)


POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def _database_url(v: str) -> str:
    if v.startswith(POSTGRES_SCHEMES):
        if not urlsplit(v).hostname:
            raise ValueError("must name a host, such as postgresql://user:pw@host:5432/db")
        return v
    if not v.startswith("sqlite:///") or v == "sqlite:///":
        raise ValueError(
            "must be a SQLite URL such as sqlite:///bridge.db, or a PostgreSQL one such as "
            "postgresql://user:pw@host:5432/db"
        )
    if v.removeprefix("sqlite:///").partition("?")[0] == ":memory:":
        raise ValueError("must name a file: an in-memory database loses everything at each restart")
    return v


def _database_path(url: str) -> Path:
    """`sqlite:///bridge.db` is relative to the working directory, `sqlite:////x` absolute."""
    return Path(url.removeprefix("sqlite:///"))


class DatabaseSettings(BaseSettings):
    """Where the database is, and nothing else: what `hitl-bridge backup` reads, so that a
    copy needs no Slack token."""

    model_config = _SOURCES
    database_url: str = Field("sqlite:///bridge.db", validation_alias="BRIDGE_DATABASE_URL")

    @field_validator("database_url")
    @classmethod
    def _database(cls, v: str) -> str:
        return _database_url(v)

    @property
    def database_path(self) -> Path:
        """The SQLite file (see `postgres_url` for PostgreSQL)."""
        return _database_path(self.database_url)

    @property
    def postgres_url(self) -> str | None:
        """The PostgreSQL database's URL; None for SQLite."""
        return self.database_url if self.database_url.startswith(POSTGRES_SCHEMES) else None


class Settings(BaseSettings):
    """Every variable of the DESIGN table, plus a few tuning knobs (documented in README)."""

    model_config = _SOURCES

    slack_bot_token: SecretStr = Field(validation_alias="SLACK_BOT_TOKEN")
    slack_app_token: SecretStr | None = Field(None, validation_alias="SLACK_APP_TOKEN")
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias="SLACK_SIGNING_SECRET", validate_default=True
    )
    slack_api_url: str = Field("https://slack.com/api/", validation_alias="SLACK_API_URL")
    channel: str = Field(validation_alias="BRIDGE_CHANNEL")
    api_token: SecretStr = Field(validation_alias="BRIDGE_API_TOKEN")
    webhook_url: str | None = Field(None, validation_alias="BRIDGE_WEBHOOK_URL")
    webhook_secret: SecretStr | None = Field(
        None, validation_alias="BRIDGE_WEBHOOK_SECRET", validate_default=True
    )
    database_url: str = Field("sqlite:///bridge.db", validation_alias="BRIDGE_DATABASE_URL")
    sqlite_synchronous: Literal["normal", "full"] = Field(
        "normal", validation_alias="BRIDGE_SQLITE_SYNCHRONOUS"
    )
    host: str = Field("127.0.0.1", validation_alias="BRIDGE_HOST")
    port: int = Field(3000, validation_alias="BRIDGE_PORT")
    public_url: str | None = Field(None, validation_alias="BRIDGE_PUBLIC_URL")
    # The numbers' bounds are in BOUNDS.
    slack_rate: float = Field(1.0, validation_alias="BRIDGE_SLACK_RATE")
    slack_burst: int = Field(5, validation_alias="BRIDGE_SLACK_BURST")
    # Other methods' budgets, as a multiple of Slack's published tiers (0: only its 429s).
    slack_tiers: float = Field(1.0, validation_alias="BRIDGE_SLACK_TIERS")
    max_body: int = Field(1_048_576, validation_alias="BRIDGE_MAX_BODY")
    assign_timeout: float = Field(0, validation_alias="BRIDGE_ASSIGN_TIMEOUT")
    remind_after: float = Field(0, validation_alias="BRIDGE_REMIND_AFTER")
    approval_timeout: float = Field(3600, validation_alias="BRIDGE_APPROVAL_TIMEOUT")
    queues: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, validation_alias="BRIDGE_QUEUES"
    )
    agent_usergroup: str | None = Field(None, validation_alias="BRIDGE_AGENT_USERGROUP")
    slack_combine: bool = Field(True, validation_alias="BRIDGE_SLACK_COMBINE")
    receipt_reaction: str = Field(
        "white_check_mark",
        pattern=r"^[a-z0-9_+'-]{0,100}$",
        validation_alias="BRIDGE_RECEIPT_REACTION",
    )
    remind_repeat: int = Field(3, validation_alias="BRIDGE_REMIND_REPEAT")
    remind_mention: str | None = Field(None, validation_alias="BRIDGE_REMIND_MENTION")
    idle_reminder: float = Field(0, validation_alias="BRIDGE_IDLE_REMINDER")
    persona_name: str | None = Field(None, max_length=80, validation_alias="BRIDGE_PERSONA_NAME")
    persona_picture: str | None = Field(None, validation_alias="BRIDGE_PERSONA_PICTURE")
    relay_corrections: bool = Field(False, validation_alias="BRIDGE_RELAY_CORRECTIONS")
    upload_media: bool = Field(False, validation_alias="BRIDGE_UPLOAD_MEDIA")
    # Networks besides the public ones that media may be fetched from (a deployment's own
    # media host; the tests' loopback). Cloud metadata addresses stay refused.
    media_allow_networks: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = Field(
        (), validation_alias="BRIDGE_MEDIA_ALLOW_NETWORKS"
    )
    close_by: Literal["anyone", "assignee"] = Field("anyone", validation_alias="BRIDGE_CLOSE_BY")
    botpress_webhook_url: str | None = Field(None, validation_alias="BOTPRESS_WEBHOOK_URL")
    botpress_path_token: SecretStr | None = Field(
        None, validation_alias="BOTPRESS_PATH_TOKEN", validate_default=True
    )
    # Tuning knobs beyond the DESIGN table.
    retry_base: float = Field(1.0, validation_alias="BRIDGE_RETRY_BASE")
    retry_max: float = Field(300.0, validation_alias="BRIDGE_RETRY_MAX")
    delivery_max_age: float = Field(259200, validation_alias="BRIDGE_DELIVERY_MAX_AGE")
    delivery_max_attempts: int = Field(0, validation_alias="BRIDGE_DELIVERY_MAX_ATTEMPTS")
    log_level: str = Field("INFO", validation_alias="BRIDGE_LOG_LEVEL")
    log_format: Literal["text", "json"] = Field("text", validation_alias="BRIDGE_LOG_FORMAT")

    @field_validator(*BOUNDS)
    @classmethod
    def _within_bounds(cls, v: float, info: ValidationInfo) -> float:
        bound = BOUNDS[str(info.field_name)]
        if not bound.allows(v):
            raise ValueError(bound.expected)
        return v

    @field_validator("retry_max")
    @classmethod
    def _retry_order(cls, v: float, info: ValidationInfo) -> float:
        base = info.data.get("retry_base")
        if base is not None and v < base:
            raise ValueError("must be at least BRIDGE_RETRY_BASE (it is the longest delay)")
        return v

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return v

    @field_validator("botpress_path_token")
    @classmethod
    def _path_token(cls, v: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        # Botpress sends no credentials: this path segment is the hitl-api routes' only lock.
        if v is None and info.data.get("botpress_webhook_url"):
            raise ValueError(
                "required when BOTPRESS_WEBHOOK_URL is set (Botpress sends no credentials: "
                "the secret path segment is what keeps strangers out)"
            )
        if v is not None and not re.fullmatch(r"[A-Za-z0-9_-]{16,200}", v.get_secret_value()):
            raise ValueError("must be 16-200 letters, digits, '-' or '_' (it is part of a URL)")
        return v

    @field_validator("remind_mention")
    @classmethod
    def _remind_mention(cls, v: str | None) -> str | None:
        if v is not None and v not in ("here", "channel") and not re.fullmatch(r"S[A-Z0-9]+", v):
            raise ValueError("must be here, channel, or a user group id such as S0123456789")
        return v

    @field_validator("receipt_reaction")
    @classmethod
    def _receipt(cls, v: str) -> str:
        return "" if v in ("off", "none") else v

    @field_validator("api_token")
    @classmethod
    def _not_blank(cls, v: SecretStr) -> SecretStr:
        if not _split(v):
            raise ValueError("must not be blank")
        return v

    @field_validator("slack_signing_secret")
    @classmethod
    def _signing_secret(cls, v: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        # A SLACK_APP_TOKEN given but malformed is missing from `info.data` (its own line
        # says what is wrong with it); one not given at all is there, as None.
        if v is None and "slack_app_token" in info.data and info.data["slack_app_token"] is None:
            raise ValueError("required in HTTP mode (without SLACK_APP_TOKEN)")
        if v is not None and not v.get_secret_value().strip():
            raise ValueError("must not be blank")
        return v

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return v

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, v: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if v is None:
            if info.data.get("webhook_url"):
                raise ValueError(
                    "required when BRIDGE_WEBHOOK_URL is set (unsigned webhooks are refused)"
                )
            return v
        for key in _split(v):
            try:
                # Standard Webhooks: whsec_ then base64, padding optional.
                valid = key.startswith("whsec_") and len(base64.b64decode(key[6:] + "==")) >= 16
            except binascii.Error:
                valid = False
            if not valid:
                raise ValueError(
                    "must be a Standard Webhooks secret (whsec_ followed by base64), "
                    "or several separated by commas"
                )
        return v

    @field_validator(
        "slack_api_url", "webhook_url", "public_url", "botpress_webhook_url", "persona_picture"
    )
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not _URL.match(v):
            raise ValueError("must be an http:// or https:// URL")
        return v

    @field_validator("port")
    @classmethod
    def _port(cls, v: int) -> int:
        if not 1 <= v <= 65535:
            raise ValueError("must be a port between 1 and 65535")
        return v

    @field_validator("channel", "agent_usergroup")
    @classmethod
    def _slack_id(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Z0-9]{2,}", v):
            raise ValueError("must be a Slack id such as C0123456789")
        return v

    @field_validator("database_url")
    @classmethod
    def _database(cls, v: str) -> str:
        return _database_url(v)

    @field_validator("queues", mode="before")
    @classmethod
    def _queues(cls, v: Any) -> Any:
        if not isinstance(v, str):
            return v
        queues: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in v.split(","))):
            name, sep, channel = part.partition("=")
            if not sep or not name.strip() or not re.fullmatch(r"[A-Z0-9]{2,}", channel.strip()):
                raise ValueError("must look like name=C0123456789,other=C0987654321")
            queues[name.strip()] = channel.strip()
        return queues

    @field_validator("media_allow_networks", mode="before")
    @classmethod
    def _media_allow_networks(cls, v: Any) -> Any:
        if not isinstance(v, str):
            return v
        try:
            return tuple(ip_network(part.strip()) for part in v.split(",") if part.strip())
        except ValueError:
            raise ValueError("must be networks such as 10.1.2.0/24,fd12:3456::/64") from None

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, v: str) -> str:
        if v.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return v.upper()

    @property
    def api_tokens(self) -> list[str]:
        """Every accepted bearer token: a comma-separated list lets tokens rotate."""
        return _split(self.api_token)

    @property
    def webhook_secrets(self) -> list[str]:
        """Webhook signing keys: every one signs each delivery, so keys rotate too."""
        return _split(self.webhook_secret) if self.webhook_secret else []

    @property
    def mention(self) -> str | None:
        """Who reminders and urgent handoffs call on: as set, else the agents' user group,
        else everyone here."""
        return self.remind_mention or self.agent_usergroup or "here"

    @property
    def persona(self) -> tuple[str, str | None] | None:
        return (self.persona_name, self.persona_picture) if self.persona_name else None

    @property
    def botpress_prefix(self) -> str | None:
        """Where the hitl-api routes live, `/botpress/{token}`; None when they are off."""
        if self.botpress_webhook_url is None or self.botpress_path_token is None:
            return None
        return f"/botpress/{self.botpress_path_token.get_secret_value()}"

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def database_path(self) -> Path:
        """The SQLite file (see `postgres_url` for PostgreSQL)."""
        return _database_path(self.database_url)

    @property
    def postgres_url(self) -> str | None:
        """The PostgreSQL database's URL; None for SQLite."""
        return self.database_url if self.database_url.startswith(POSTGRES_SCHEMES) else None

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def channel_for(self, queue: str | None) -> str:
        return self.queues.get(queue or "", self.channel)


def serving_problems(settings: Settings) -> list[str]:
    """What `serve` and `check` refuse beyond the form `load_settings` checks: a bearer
    token short enough to guess. (Code that builds a `Bridge` itself, tests and demos, may
    use short ones.)"""
    if any(len(token) < MIN_TOKEN_LENGTH for token in settings.api_tokens):
        return [
            f"BRIDGE_API_TOKEN: each token must be at least {MIN_TOKEN_LENGTH} characters "
            "(make one with: openssl rand -hex 32)"
        ]
    return []


def _split(secret: SecretStr) -> list[str]:
    return [part.strip() for part in secret.get_secret_value().split(",") if part.strip()]


def load_settings(
    environ: Mapping[str, str] | None = None, *, env_file: str | Path | None = ".env"
) -> Settings:
    """Read the settings; `environ` replaces `os.environ` (tests pass their own)."""
    try:
        if environ is None:
            return Settings(_env_file=env_file)  # type: ignore[call-arg]
        return _from_mapping(environ, env_file)
    except ValidationError as exc:
        raise ConfigError(_problems(exc)) from None


def load_database_settings() -> DatabaseSettings:
    """`DatabaseSettings` from the environment and `.env`, as `load_settings` reads them."""
    try:
        return DatabaseSettings()  # type: ignore[call-arg]  # the fields come from the environment
    except ValidationError as exc:
        raise ConfigError(_problems(exc)) from None


def _from_mapping(environ: Mapping[str, str], env_file: str | Path | None) -> Settings:
    values: dict[str, Any] = {}
    if env_file is not None and Path(env_file).is_file():
        from dotenv import dotenv_values

        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(environ)
    names = {f.validation_alias for f in Settings.model_fields.values()}
    given = {k: v for k, v in values.items() if k in names and v != ""}
    return _GivenSettings(**given)


class _GivenSettings(Settings):
    """Settings from the given values alone: neither `os.environ` nor `./.env` leaks in."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def _problems(exc: ValidationError) -> list[str]:
    fields = {f.validation_alias: name for name, f in Settings.model_fields.items()}
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        name = str(err["loc"][0]) if err["loc"] else ""
        field_name = name if name in Settings.model_fields else fields.get(name, name)
        field = Settings.model_fields.get(field_name)
        if field is not None and isinstance(field.validation_alias, str):
            name = field.validation_alias  # a default that failed is reported by field name
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "missing":
            message = "required but not set"
        elif field_name in BOUNDS and err["type"] != "value_error":
            message = BOUNDS[field_name].expected  # not a number: say what one would do
        lines.append(f"{name}: {message}")
    return lines
