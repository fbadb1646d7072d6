"""Database connections. Every wait is bounded so an outage turns into a quick 503, never a hang."""

from typing import Any

from psycopg2.extensions import make_dsn
from sqlalchemy import Engine, create_engine

from app.core.settings import Settings


def connect_args(settings: Settings, *, as_owner: bool = False,
                 application_name: str | None = None) -> dict[str, Any]:
    timeout_ms = settings.db_statement_timeout_ms
    return {
        "connect_timeout": settings.db_connect_timeout_s,
        "application_name": application_name or (
            "social-ads-owner" if as_owner else "social-ads-api"),
        # statement_timeout bounds a slow server; tcp_user_timeout and keepalives bound a
        # silent network (a blackholed server never answers, so only the client can give up).
        "options": f"-c statement_timeout={timeout_ms} -c lock_timeout={timeout_ms}",
        "tcp_user_timeout": timeout_ms,
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 2,
    }


def make_engine(settings: Settings, *, as_owner: bool = False) -> Engine:
    return create_engine(
        settings.database_url(as_owner=as_owner),
        pool_size=settings.db_pool_size,
        max_overflow=0,
        pool_timeout=settings.db_timeout_s,
        # A connection that died with the server is noticed and replaced, so the
        # service recovers by itself when PostgreSQL comes back.
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args=connect_args(settings, as_owner=as_owner),
    )


def app_dsn(settings: Settings, application_name: str = "social-ads-api") -> str:
    """The app role's libpq connection string, for the connections a worker drives on its
    event loop (the prediction log's, the served-version listener's)."""
    url = settings.database_url()
    return str(make_dsn(host=url.host, port=url.port, dbname=url.database, user=url.username,
                        password=url.password,
                        **connect_args(settings, application_name=application_name)))
