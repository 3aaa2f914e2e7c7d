"""Engine, sessions and the declarative base.

Sessions are synchronous: FastAPI runs sync dependencies and routes in its threadpool, so a
blocking psycopg call never stalls the event loop. PostgreSQL only, in every environment: `make dev`
and the tests run an embedded server, production an external one.
"""

from __future__ import annotations

from sqlalchemy import Engine, MetaData, create_engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

__all__ = ["Base", "make_engine", "make_sessionmaker"]


# Stable constraint names, so migrations can refer to them.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Connections are replaced before idle timeouts of proxies and servers are likely to close them.
POOL_RECYCLE_SECONDS = 1800


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def make_engine(
    database_url: str,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    connect_timeout: float = 5.0,
    pool_timeout: float = 10.0,
) -> Engine:
    """A PostgreSQL engine for this URL, with bounded waits for connections and pooled ones."""
    url = make_url(database_url)
    # No pre-ping: it costs a round trip per checkout. A connection the server dropped fails its
    # request once (a 503, see problems.py); SQLAlchemy then invalidates the pool's older connections.
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        pool_recycle=POOL_RECYCLE_SECONDS,
        # Without these a partitioned database (packets silently dropped) hangs a request forever:
        # a connection handshake waits for `connect_timeout`, an open connection's unacknowledged
        # data for `tcp_user_timeout`, and keepalives find a dead peer of an idle connection.
        connect_args={
            "connect_timeout": max(1, round(connect_timeout)),
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "tcp_user_timeout": round(connect_timeout * 3000),
        },
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)
