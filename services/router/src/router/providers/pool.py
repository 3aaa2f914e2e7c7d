"""httpcore's connection pool with its bookkeeping made linear in the number of connections.

httpcore 1.0's `AsyncConnectionPool._assign_requests_to_connections` runs whenever a request joins
or leaves the pool, and for every idle connection it counts all connections again (a list built
only for its length): with many streams open to one provider, each one that ends costs the number
of idle connections times the number of all of them, and a router winding down 1,000 streams spent
most of its CPU there (encode/httpcore#1035). `LinearPool` makes the same decisions, in the same
order, with one running count; `tests/router/test_provider_pool.py` checks it against httpcore's.
"""

from __future__ import annotations

import httpcore
import httpx
from httpcore._async.interfaces import AsyncConnectionInterface

__all__ = ["LinearPool", "use_linear_pool"]


class LinearPool(httpcore.AsyncConnectionPool):
    def _assign_requests_to_connections(self) -> list[AsyncConnectionInterface]:
        closing: list[AsyncConnectionInterface] = []

        # Closed, expired, and idle beyond the keep-alive limit — where httpcore compares the number
        # of connections still in the pool (its list comprehension counts every one, idle or not).
        kept: list[AsyncConnectionInterface] = []
        remaining = len(self._connections)
        for connection in self._connections:
            if connection.is_closed():
                remaining -= 1
            elif connection.has_expired() or (
                connection.is_idle() and remaining > self._max_keepalive_connections
            ):
                remaining -= 1
                closing.append(connection)
            else:
                kept.append(connection)
        self._connections = kept

        # Queued requests, as httpcore assigns them (few are queued at once: this stays as it is).
        for pool_request in [request for request in self._requests if request.is_queued()]:
            origin = pool_request.request.url.origin
            available = next(
                (c for c in self._connections if c.can_handle_request(origin) and c.is_available()),
                None,
            )
            if available is not None:
                pool_request.assign_to_connection(available)
            elif len(self._connections) < self._max_connections:
                connection = self.create_connection(origin)
                self._connections.append(connection)
                pool_request.assign_to_connection(connection)
            else:
                idle = next((c for c in self._connections if c.is_idle()), None)
                if idle is not None:
                    self._connections.remove(idle)
                    closing.append(idle)
                    connection = self.create_connection(origin)
                    self._connections.append(connection)
                    pool_request.assign_to_connection(connection)
        return closing


def use_linear_pool(client: httpx.AsyncClient) -> None:
    """Make the client's own connection pool a `LinearPool` (its state stays; only methods change).

    Like `use_asyncio_backend`, this reaches into the transport httpx built; a pool of another
    shape (a future httpx or httpcore, a proxy mount) is left as it is.
    """
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    if type(pool) is httpcore.AsyncConnectionPool:
        pool.__class__ = LinearPool
