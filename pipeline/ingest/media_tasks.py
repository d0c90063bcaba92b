"""The ingest stage's side of oversized media: the MediaTask it hands on, and re-emission.

An oversized input is committed as `pending` with its original blob, then its MediaTask
is published. A crash between the two loses nothing: a replayed request (or the same
content sent again) re-emits the tasks of its inputs that are still pending. Task ids
depend on the content only, so a re-emitted task is the same task.
"""

from __future__ import annotations

from pipeline.events import MediaTask, UploadRequest
from pipeline.ids import check_id, derived_id
from pipeline.media.ports import MediaCatalog
from pipeline.models import Annotation
from pipeline.records import InputOutcome
from pipeline.status import StatusCode


def media_task(
    user_id: str,
    app_id: str,
    input_id: str,
    media_type: str,
    blob_key: str,
    annotations: list[Annotation],
    dataset_ids: list[str],
) -> MediaTask:
    """The task for one oversized input."""
    return MediaTask(
        task_id=derived_id("media", user_id, app_id, input_id, blob_key),
        user_id=user_id,
        app_id=app_id,
        input_id=input_id,
        media_type=media_type,
        blob_key=blob_key,
        annotations=annotations,
        dataset_ids=dataset_ids,
    )


def dataset_ids_of(request: UploadRequest, index: int) -> list[str]:
    ids: list[str] = []
    for dataset_id in [*request.dataset_ids, *request.inputs[index].dataset_ids]:
        check_id(dataset_id, "dataset id")
        if dataset_id not in ids:
            ids.append(dataset_id)
    return ids


def reemit(
    request: UploadRequest, outcomes: list[InputOutcome], catalog: MediaCatalog | None
) -> list[MediaTask]:
    """MediaTasks again for the inputs of a processed request that are still pending."""
    waiting = [o for o in outcomes if o.code == StatusCode.INPUT_PENDING]
    if not waiting or catalog is None:
        return []
    parents = catalog.media_parents(request.user_id, request.app_id, [o.input_id for o in waiting])
    tasks: list[MediaTask] = []
    for outcome in waiting:
        parent = parents.get(outcome.input_id)
        if parent is None or parent.status_code != StatusCode.INPUT_PENDING:
            continue  # done meanwhile, or replaced
        tasks.append(
            media_task(
                parent.user_id,
                parent.app_id,
                parent.id,
                parent.media_type,
                parent.blob_key,
                request.inputs[outcome.index].annotations,
                dataset_ids_of(request, outcome.index),
            )
        )
    return tasks
