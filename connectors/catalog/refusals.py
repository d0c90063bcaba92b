"""Items an importer refused before the ingest stage, kept where failed inputs are.

An item with a valid input id becomes a failed row of `inputs` (as the ingest stage
records an input it fails), so `inputs status` counts it, `inputs list --failed` lists it
with its code, and a later import that stores the id replaces it. A good or busy input is
never overwritten by a refusal. An item without a valid id (a folder that cannot be
listed, a non-UTF-8 file name, a refused id) goes to `refused_inputs`, named by its id
escaped or by `<source>/<item>`, which no valid id can equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import and_

from connectors.catalog import schema as t
from connectors.catalog.rows import input_row, utc_now
from pipeline.errors import InputError
from pipeline.ids import check_id, fingerprint
from pipeline.ingest.inputs import stamp_lineage
from pipeline.models import Lineage
from pipeline.records import Action, InputOutcome, InputRecord, Refusal
from pipeline.status import StatusCode

if TYPE_CHECKING:
    from connectors.catalog.sql import SqlCatalog

_KEEP = (StatusCode.INPUT_SUCCESS, StatusCode.INPUT_PENDING, StatusCode.INPUT_IN_PROGRESS)


class RefusalCatalog:
    """Records what importers refused, in one transaction per call."""

    def __init__(self, catalog: SqlCatalog) -> None:
        self.catalog = catalog

    def record(self, user_id: str, app_id: str, refusals: Sequence[Refusal]) -> None:
        now = utc_now()
        rows: dict[str, dict] = {}
        unnamed: dict[str, list[InputOutcome]] = {}
        for r in refusals:
            if _valid(r.input_id):
                assert r.input_id is not None
                rows[r.input_id] = input_row(_record(user_id, app_id, r), now)
            else:
                shown = r.input_id or f"{r.source}/{r.key}"
                outcome = InputOutcome(
                    0, shown, shown, Action.FAILED, StatusCode(r.code), r.message
                )
                unnamed.setdefault(r.run_id, []).append(outcome)
        with self.catalog.begin() as conn:
            if rows:
                stmt = self.catalog.insert(t.inputs)
                keep = ("user_id", "app_id", "id", "created_at")
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["user_id", "app_id", "id"],
                        set_={
                            k: stmt.excluded[k] for k in next(iter(rows.values())) if k not in keep
                        },
                        # No IN (...): an executemany cannot expand it.
                        where=and_(*(t.inputs.c.status_code != int(c) for c in _KEEP)),
                    ),
                    list(rows.values()),
                )
            for run_id, outcomes in unnamed.items():
                self.catalog.record_refused(conn, user_id, app_id, run_id, outcomes, now)


def _valid(input_id: str | None) -> bool:
    try:
        return input_id is not None and bool(check_id(input_id))
    except InputError:
        return False


def _record(user_id: str, app_id: str, r: Refusal) -> InputRecord:
    record = InputRecord(
        user_id=user_id,
        app_id=app_id,
        id=r.input_id or "",
        media_type=None,
        status_code=StatusCode(r.code),
        status_message=r.message,
        fingerprint=fingerprint({"failed": r.message}),
        request_id=r.run_id,  # no upload request carried it: the run that refused it
        job_id=r.job_id,
        source=r.source,
    )
    stamp_lineage(record, r.run_id, Lineage(source_uri=r.source_uri, source_etag=r.source_etag))
    return record
