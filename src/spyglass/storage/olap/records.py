"""Reading current records by id and writing new versions: what the ingestion worker needs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from spyglass.domain.records import EntityKind, Record
from spyglass.storage.olap.client import OlapClient
from spyglass.storage.olap.codec import TABLES, decode_row, encode_row, select_list
from spyglass.storage.olap.gate import VisibilityGate

# Without a gate that covers every reader, tables are written children-first so that a
# trace never becomes readable before the observations and scores that arrived with it.
WRITE_ORDER: tuple[EntityKind, ...] = ("score", "observation", "trace")


class RecordStore:
    """`gate` given: every reader of the store holds it, so the tables of one write go in
    side by side (chDB runs each insert on its own connection, outside the GIL) and the
    write still becomes visible at once; otherwise one after the other, children first."""

    def __init__(self, client: OlapClient, gate: VisibilityGate | None = None) -> None:
        self.client = client
        self.gate = gate or VisibilityGate()
        self._parallel = (
            ThreadPoolExecutor(max_workers=len(WRITE_ORDER) - 1, thread_name_prefix="olap-insert") if gate else None
        )

    def find_current(self, kind: EntityKind, project_id: str, ids: list[str]) -> dict[str, Record]:
        """The newest version of each id that exists and is not deleted (no FINAL: point reads).

        A sort-key change writes the tombstone of the old key with the same version as the
        new row, so at equal versions the live row (is_deleted = 0) is the current one.
        """
        if not ids:
            return {}
        rows = self.client.rows(
            f"SELECT {select_list(kind)}, is_deleted FROM {TABLES[kind]} "
            "WHERE project_id = {p:String} AND id IN {ids:Array(String)} "
            "ORDER BY event_ts DESC, is_deleted LIMIT 1 BY id",
            {"p": project_id, "ids": ids},
        )
        return {row["id"]: decode_row(kind, row) for row in rows if not row["is_deleted"]}

    def write(
        self,
        records: dict[EntityKind, list[Record]],
        tombstones: dict[EntityKind, list[Record]],
        event_ts: int,
    ) -> None:
        encoded = {}
        for kind in WRITE_ORDER:
            rows = [encode_row(kind, r, event_ts, is_deleted=1) for r in tombstones.get(kind, ())]
            encoded[kind] = rows + [encode_row(kind, r, event_ts) for r in records.get(kind, ())]
        inserts = [(TABLES[kind], rows) for kind, rows in encoded.items() if rows]
        with self.gate.writing():
            if self._parallel is None or len(inserts) < 2:
                for table, rows in inserts:
                    self.client.insert_json_rows(table, rows)
                return
            # The largest insert runs here, the others beside it; all finish before the gate opens.
            inserts.sort(key=lambda insert: len(insert[1]))
            *others, (table, rows) = inserts
            futures = [self._parallel.submit(self.client.insert_json_rows, t, r) for t, r in others]
            self.client.insert_json_rows(table, rows)
            for future in futures:
                future.result()

    def delete_traces(self, project_id: str, trace_ids: list[str]) -> None:
        """Remove traces with their observations and trace-scores (lightweight deletes)."""
        params = {"p": project_id, "ids": trace_ids}
        with self.gate.writing():
            self._delete_trace_rows(params)

    def _delete_trace_rows(self, params: dict[str, object]) -> None:
        for table, column in (("scores", "trace_id"), ("observations", "trace_id"), ("traces", "id")):
            self.client.command(
                f"DELETE FROM {table} WHERE project_id = {{p:String}} AND {column} IN {{ids:Array(String)}}", params
            )

    def delete_project(self, project_id: str) -> None:
        """Remove every trace, observation and score of a project."""
        with self.gate.writing():
            for kind in WRITE_ORDER:
                self.client.command(f"DELETE FROM {TABLES[kind]} WHERE project_id = {{p:String}}", {"p": project_id})

    def delete_scores(self, project_id: str, score_ids: list[str]) -> None:
        with self.gate.writing():
            self.client.command(
                "DELETE FROM scores WHERE project_id = {p:String} AND id IN {ids:Array(String)}",
                {"p": project_id, "ids": score_ids},
            )
