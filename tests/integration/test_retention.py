"""Retention on a real PostgreSQL: exactly the old rows go, with their outcomes."""

from datetime import timedelta

import pytest
from sqlalchemy import Engine, text

from app.core.database import make_engine
from app.store import retention
from tests.support.servers import Database


def test_prune_deletes_exactly_the_rows_older_than_the_cutoff(owner_engine: Engine) -> None:
    with owner_engine.begin() as connection:
        new_ids = connection.scalars(text(
            "INSERT INTO predictions (age, salary, purchased, probability, model_version)"
            " SELECT 30, g, false, 0.5, 1 FROM generate_series(1, 60) g RETURNING id")).all()
        # Interleaved ages: every third row is old, so each chunk mixes old and recent rows.
        old = set(new_ids[::3])
        connection.execute(text("UPDATE predictions SET created_at = now() - interval '10 days'"
                                " WHERE id = ANY(:ids)"), {"ids": list(old)})
        connection.execute(text("INSERT INTO outcomes (prediction_id, purchased, recorded_at)"
                                " SELECT id, true, now() FROM predictions WHERE id = ANY(:ids)"),
                           {"ids": new_ids})
        everything_old = set(connection.scalars(text(
            "SELECT id FROM predictions WHERE created_at < now() - interval '9 days'")))
    with owner_engine.connect() as connection:
        deleted = retention.prune(connection, timedelta(days=9), chunk_rows=7)
    with owner_engine.connect() as connection:
        left = set(connection.scalars(text("SELECT id FROM predictions")))
        outcomes = set(connection.scalars(text(
            "SELECT prediction_id FROM outcomes WHERE prediction_id = ANY(:ids)"),
            {"ids": new_ids}))
    assert deleted == len(everything_old) and old <= everything_old
    assert not left & everything_old
    assert set(new_ids) - old <= left
    assert outcomes == set(new_ids) - old  # the old rows' outcomes went with them


def test_prune_with_nothing_old_deletes_nothing(owner_engine: Engine) -> None:
    with owner_engine.connect() as connection:
        before = connection.scalar(text("SELECT count(*) FROM predictions"))
        assert retention.prune(connection, timedelta(days=3650)) == 0
        assert connection.scalar(text("SELECT count(*) FROM predictions")) == before


def test_the_app_role_cannot_prune(prepared_database: Database) -> None:
    engine = make_engine(prepared_database.settings())
    try:
        with engine.connect() as connection, pytest.raises(Exception, match="permission denied"):
            retention.prune(connection, timedelta(days=0))
    finally:
        engine.dispose()
