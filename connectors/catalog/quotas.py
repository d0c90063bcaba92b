"""Quota counters shared by every worker, kept in the catalog (SQLite or PostgreSQL).

One transaction per take: record the grant for (scope, event) — a replayed event finds it
and takes nothing — then increment each window's counter with an atomic upsert that only
applies while the count is under the limit. If any window is full, the whole transaction
rolls back, so no window is charged for an input that was not let through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection

from connectors.catalog.collectors_tables import quota_counters, quota_grants

if TYPE_CHECKING:
    from connectors.catalog.sql import SqlCatalog

KEEP_GRANTS_S = 2 * 86400


class _Full(Exception):
    """A window is at its limit: roll the transaction back."""


class QuotaCatalog:
    def __init__(self, catalog: SqlCatalog) -> None:
        self.catalog = catalog

    def take(
        self, scope: str, event_id: str, windows: list[tuple[str, int, int]], now: float
    ) -> bool:
        """One unit in each (name, seconds, limit) window, for this event, or none at all."""
        t = int(now)
        c = quota_counters.c
        try:
            with self.catalog.begin() as conn:
                # RETURNING, not rowcount: psycopg reports -1 for INSERT ... ON CONFLICT.
                granted = conn.execute(
                    self.catalog.insert(quota_grants)
                    .values(scope=scope, event_id=event_id, granted_at=t)
                    .on_conflict_do_nothing(index_elements=["scope", "event_id"])
                    .returning(quota_grants.c.event_id)
                ).first()
                if granted is None:
                    return True  # this event already holds its unit (a replay)
                new_window = False
                for name, seconds, limit in windows:
                    start = t - t % seconds
                    stmt = self.catalog.insert(quota_counters).values(
                        scope=scope, window=name, window_start=start, count=1
                    )
                    stmt = stmt.on_conflict_do_update(
                        index_elements=["scope", "window", "window_start"],
                        set_={"count": c.count + 1},
                        where=c.count < limit,
                    ).returning(c.count)
                    row = conn.execute(stmt).first()
                    if row is None:
                        raise _Full
                    new_window = new_window or row[0] == 1
                if new_window:  # at most once per window: forget what can no longer matter
                    self._prune(conn, scope, t)
        except _Full:
            return False
        return True

    def _prune(self, conn: Connection, scope: str, t: int) -> None:
        cutoff = t - KEEP_GRANTS_S
        conn.execute(
            delete(quota_counters).where(
                quota_counters.c.scope == scope, quota_counters.c.window_start < cutoff
            )
        )
        conn.execute(
            delete(quota_grants).where(
                quota_grants.c.scope == scope, quota_grants.c.granted_at < cutoff
            )
        )

    def counts(self, scope: str) -> dict[str, int]:
        """Current count of each window (for status and tests)."""
        c = quota_counters.c
        with self.catalog.begin() as conn:
            rows = conn.execute(
                select(c.window, c.window_start, c.count)
                .where(c.scope == scope)
                .order_by(c.window_start)
            ).all()
        latest: dict[str, int] = {}
        for window, _start, count in rows:
            latest[window] = count
        return latest
