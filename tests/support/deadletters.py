"""Shared set-up for dead-letter tests: letters as a stage would have recorded them."""

from __future__ import annotations

from typing import Any

from ingestd.app.runtime import Runtime
from ingestd.app.settings import Settings
from pipeline.events import DeadLetter
from pipeline.status import StatusCode


def dead_letter(**fields: Any) -> DeadLetter:
    """A letter of the ingest stage that gave up on an upload; `fields` change any part."""
    base: dict[str, Any] = {
        "stage": "ingest",
        "code": StatusCode.TRY_AGAIN,
        "message": "gave up",
        "origin_topic": "ingestd.uploads",
    }
    return DeadLetter(**{**base, **fields})


def record_dead_letters(settings: Settings, *letters: DeadLetter) -> None:
    """Store `letters` in the catalog of `settings`, as the stages would have."""
    with Runtime.open(settings) as rt:
        for letter in letters:
            rt.catalog.record_dead_letter(letter)
