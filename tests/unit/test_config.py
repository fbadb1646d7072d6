"""Settings: placeholders refused in production, role names safe to put into SQL."""

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from app.core.settings import OwnerCredentialsMissingError, Settings

REAL = {"db_owner_password": "s3cret-Owner-pw", "app_db_password": "s3cret-App-pw",
        "db_owner_user": "social_ads", "app_db_user": "social_ads_app",
        "api_token": "s3cret-Token-value"}


def test_placeholder_secret_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="APP_DB_PASSWORD is a placeholder"):
        Settings.model_validate({**REAL, "app_db_password": "changeme"})


def test_placeholder_secret_allowed_in_development() -> None:
    settings = Settings.model_validate(
        {**REAL, "app_db_password": "changeme", "app_env": "development"}
    )
    assert settings.app_db_password.get_secret_value() == "changeme"


def test_secrets_do_not_show_in_repr_or_urls() -> None:
    settings = Settings.model_validate(REAL)
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in str(settings.database_url())
    assert settings.database_url().username == "social_ads_app"
    assert settings.database_url(as_owner=True).username == "social_ads"


def test_the_api_needs_no_owner_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The api container gets only the app role's: owner-only work says where to run it."""
    monkeypatch.delenv("DB_OWNER_PASSWORD", raising=False)  # settings read the environment
    settings = Settings.model_validate({"app_db_password": "s3cret-App-pw",
                                        "api_token": "s3cret-Token-value"})
    assert settings.database_url().username == "social_ads_app"
    with pytest.raises(OwnerCredentialsMissingError, match="DB_OWNER_PASSWORD is not set"):
        settings.database_url(as_owner=True)


def test_placeholder_api_token_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="API_TOKEN is a placeholder"):
        Settings.model_validate({**REAL, "api_token": "changeme"})
    token = Settings.model_validate({**REAL, "api_token": "t0ken-Real"}).api_token
    assert token is not None and "t0ken" not in repr(token)


def test_the_api_token_placeholder_is_in_the_example() -> None:
    """The twin and `make env` turn `changeme` into a generated token."""
    from tests.support.paths import ROOT

    assert "API_TOKEN=changeme" in (ROOT / ".env_api.example").read_text().splitlines()


def test_placeholder_owner_secret_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="DB_OWNER_PASSWORD is a placeholder"):
        Settings.model_validate({**REAL, "db_owner_password": "changeme"})


@pytest.mark.parametrize("name", ['app"; DROP TABLE predictions; --', "App", "1abc", ""])
def test_role_names_must_be_plain_identifiers(name: str) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate({**REAL, "app_db_user": name})


def test_required_secrets_have_no_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APP_DB_PASSWORD", raising=False)
    with pytest.raises(ValidationError, match="app_db_password"):
        Settings()


def migrate_with(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m app migrate` with only `env` (and PATH): it fails before any connection."""
    return subprocess.run([sys.executable, "-m", "app", "migrate"],
                          env={"PATH": os.environ["PATH"], **env},
                          capture_output=True, text=True, check=False)


def test_the_cli_names_missing_settings_without_a_traceback() -> None:
    result = migrate_with({"DB_OWNER_PASSWORD": "changeme"})
    assert result.returncode == 2
    assert "APP_DB_PASSWORD: Field required" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_owner_command_without_owner_credentials_says_where_to_run_it() -> None:
    result = migrate_with({"APP_DB_PASSWORD": "s3cret-App-pw",
                           "API_TOKEN": "s3cret-Token-value"})
    assert result.returncode == 1
    assert "DB_OWNER_PASSWORD is not set" in result.stderr
    assert "docker compose run --rm migrate" in result.stderr
    assert "Traceback" not in result.stderr
