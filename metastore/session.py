"""Engines, the one session scope that commits or rolls back, and the mapping of database errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from metastore.errors import StoreUnavailable

SQLITE_BUSY_TIMEOUT_MS = 30_000


def sqlite_url(path: Path) -> str:
    return f"sqlite+pysqlite:///{path}"


def make_engine(url: str) -> Engine:
    """An engine for `url`: SQLite gets WAL, a busy timeout and foreign keys; others pre-ping."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        # Writers take the lock up front: a deferred transaction that upgrades to a writer
        # fails with SQLITE_BUSY at once instead of waiting out the busy timeout.
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


class SessionFactory:
    """Opens sessions on one engine; read-only unless asked for a write."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read = sessionmaker(bind=engine, expire_on_commit=False)
        writer = engine.execution_options(sqlite_begin="IMMEDIATE") if _is_sqlite(engine) else engine
        self._write = sessionmaker(bind=writer, expire_on_commit=False)

    @contextmanager
    def scope(self, write: bool = False) -> Iterator[Session]:
        """One transaction: commit on success (writes only), roll back on error, map outages."""
        session = (self._write if write else self._read)()
        try:
            if not write and self.engine.dialect.name == "postgresql":
                session.connection().exec_driver_sql("SET TRANSACTION READ ONLY")
            yield session
            if write:
                session.commit()
            else:
                session.rollback()
        except (OperationalError, InterfaceError) as exc:
            session.rollback()
            raise StoreUnavailable(_reason(exc)) from exc
        except DBAPIError as exc:
            session.rollback()
            if exc.connection_invalidated:
                raise StoreUnavailable(_reason(exc)) from exc
            raise
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


def _is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _reason(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
