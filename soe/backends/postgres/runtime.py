"""The PostgreSQL :class:`~soe.engine.durability.RuntimeStore`: the runner's state for many machines.

Statuses, tree state, the journal and pruning are the SQLite runtime's SQL.
Leases differ: taking one is a single conditional upsert, so two processes
racing for a tree cannot both win, and every lease time comes from the
database clock, so machines whose clocks disagree still agree on who holds a
tree and when its lease runs out.
"""

from __future__ import annotations

from soe.backends.sqlite.runtime import SqliteRuntimeStore
from soe.lib.ids import check_id

__all__ = ["PostgresRuntimeStore"]

_NOW = "extract(epoch FROM clock_timestamp())::double precision"


class PostgresRuntimeStore(SqliteRuntimeStore):
    """Transactions, statuses, tree state, leases on the database clock, the journal, pruning."""

    def acquire_lease(self, main_execution_id: str, owner: str, ttl_seconds: float) -> bool:
        """Take or renew the lease; ``False`` while another owner's lease is unexpired."""
        check_id(main_execution_id)
        with self._db.transaction() as conn:
            row = conn.execute(
                "INSERT INTO leases AS held (main_execution_id, owner, acquired_at, heartbeat_at, "
                f"expires_at) SELECT ?, ?, now, now, now + ? FROM (SELECT {_NOW} AS now) AS clock "
                "ON CONFLICT (main_execution_id) DO UPDATE SET owner = excluded.owner, "
                "acquired_at = CASE WHEN held.owner = excluded.owner THEN held.acquired_at "
                "ELSE excluded.acquired_at END, heartbeat_at = excluded.heartbeat_at, "
                "expires_at = excluded.expires_at "
                "WHERE held.owner = excluded.owner OR held.expires_at <= excluded.heartbeat_at "
                "RETURNING owner", (main_execution_id, owner, float(ttl_seconds))).fetchone()
            return row is not None

    def lease_is_fresh(self, main_execution_id: str) -> bool:
        return self.lease_owner(main_execution_id) is not None

    def lease_owner(self, main_execution_id: str) -> str | None:
        """The owner of the tree's unexpired lease, or ``None``."""
        check_id(main_execution_id)
        row = self._db.connection().execute(
            f"SELECT owner FROM leases WHERE main_execution_id = ? AND expires_at > {_NOW}",
            (main_execution_id,)).fetchone()
        return None if row is None else row[0]
