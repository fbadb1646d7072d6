"""Settings: the only place that reads the environment.

Three database roles, each in its own env file, so every process holds only what its job needs:
the superuser (`.env_db`, the db container alone), the owner (`.env_db_owner`: migrations,
seeding, training, operator commands) and the app role (`.env_db_app`: the web workers). The
API's token (`.env_api`) reaches the web workers alone: optional here, so migrate and the
operator commands run without it.
"""

from functools import lru_cache
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL

# Values copied from the examples that must never reach production.
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "password", "postgres", "secret"})

# A role name is interpolated into GRANT statements, so keep it a plain identifier.
ROLE_NAME_PATTERN = r"^[a-z_][a-z0-9_]{0,62}$"


class SettingsError(ValueError):
    """The environment does not make valid settings. Its message names each field and the
    reason, never a value: pydantic's own message shows `input_value=`, which for a missing
    field or a model check is every setting read, secrets included (their tails survive its
    truncation)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("configuration error (see .env.example and .env_db.example):\n  "
                         + "\n  ".join(problems))
        self.problems = problems


class OwnerCredentialsMissingError(RuntimeError):
    """An owner-only command ran where only the app role's credentials are (the API)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    app_env: Literal["production", "development"] = "production"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    postgres_host: str = "db"
    postgres_port: int = Field(default=5432, ge=1, le=65535)
    postgres_db: str = "social_ads"
    # The owner (not a superuser): migrations, seeding, training and the operator commands.
    # The web workers are never given its password, so it is optional here.
    db_owner_user: str = Field(default="social_ads", pattern=ROLE_NAME_PATTERN)
    db_owner_password: SecretStr | None = None
    # The least-privilege role the web workers connect as.
    app_db_user: str = Field(default="social_ads_app", pattern=ROLE_NAME_PATTERN)
    app_db_password: SecretStr
    # The bearer token that may read the log (GET /predictions) and record outcomes
    # (POST /predictions/{id}/outcome); the api's alone (.env_api). Without one, nobody can
    # do either.
    api_token: SecretStr | None = None

    # Threads per worker for sync routes (anyio's pool; its default of 40 per process would
    # pass a container's pids_limit under load). Each one holds at most one pooled connection.
    api_threads: int = Field(default=8, ge=1, le=64)

    # Bounded waits, so a dead or blackholed database yields a quick 503 instead of a hang.
    db_connect_timeout_s: int = Field(default=3, ge=1, le=60)
    db_statement_timeout_ms: int = Field(default=3000, ge=100, le=600_000)
    db_pool_size: int = Field(default=4, ge=1, le=50)
    # Largest number of prediction rows the group writer puts in one commit (batches of
    # app.store.bulk_log.BULK_MIN_ROWS rows or more go by COPY, each in its own).
    log_batch_max_rows: int = Field(default=20_000, ge=1)
    # Requests waiting for the log writer beyond this are refused with 503, not queued forever.
    log_queue_max_requests: int = Field(default=1_000, ge=1)

    # prometheus_client's multiprocess folder (a tmpfs): set, every gunicorn worker writes its
    # samples there and /metrics merges them; unset (a single process), in memory.
    prometheus_multiproc_dir: Path | None = None
    # Drift compares this many newest logged inputs of the served version with its training rows.
    drift_window: int = Field(default=1_000, ge=50, le=100_000)

    @model_validator(mode="after")
    def refuse_placeholder_secrets(self) -> "Settings":
        if self.app_env == "development":
            return self
        for name in ("db_owner_password", "app_db_password", "api_token"):
            secret: SecretStr | None = getattr(self, name)
            if secret is not None and secret.get_secret_value().lower() in PLACEHOLDER_SECRETS:
                raise ValueError(
                    f"{name.upper()} is a placeholder; set a real secret "
                    "(or APP_ENV=development for a throwaway local setup)"
                )
        return self

    @property
    def db_timeout_s(self) -> float:
        """How long a request may wait on the database before it gets a 503."""
        return self.db_connect_timeout_s + self.db_statement_timeout_ms / 1000

    def database_url(self, *, as_owner: bool = False) -> URL:
        user, password = (
            (self.db_owner_user, self.owner_password())
            if as_owner
            else (self.app_db_user, self.app_db_password)
        )
        return URL.create(
            "postgresql+psycopg2",
            username=user,
            password=password.get_secret_value(),
            host=self.postgres_host,
            port=self.postgres_port,
            database=self.postgres_db,
        )


    def owner_password(self) -> SecretStr:
        if self.db_owner_password is None:
            raise OwnerCredentialsMissingError(
                "DB_OWNER_PASSWORD is not set: this command runs as the database owner. "
                "With compose: docker compose run --rm migrate python -m app ...; "
                "with the local twin: python -m local.twin run -- python -m app ..."
            )
        return self.db_owner_password


class ServerSettings(BaseSettings):
    """What gunicorn needs; read by gunicorn.conf.py for the image and the local twin alike."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    api_bind: str = "0.0.0.0:8000"
    web_concurrency: int = Field(default=2, ge=1, le=64)
    # X-Forwarded-* headers are trusted only from these addresses (the nginx proxy).
    forwarded_allow_ips: str = "127.0.0.1"
    log_level: str = "info"
    # Emptied when gunicorn's master starts; dead workers' files are marked by child_exit.
    prometheus_multiproc_dir: Path | None = None


AnySettings = TypeVar("AnySettings", bound=BaseSettings)


def load(settings_class: type[AnySettings]) -> AnySettings:
    """Settings read from the environment; SettingsError (names and reasons only) if they
    are not valid. Every start-up path reads its settings through this."""
    try:
        return settings_class()
    except ValidationError as error:
        problems = [f"{'.'.join(map(str, e['loc'])).upper() or 'settings'}: {e['msg']}"
                    for e in error.errors(include_input=False, include_url=False,
                                          include_context=False)]
        # `from None`: a traceback must not print the ValidationError as the cause.
        raise SettingsError(problems) from None


@lru_cache
def get_settings() -> Settings:
    return load(Settings)  # the required secrets come from the environment
