"""S3 event notifications from an SQS queue: which keys of the drop zone were created or removed.

Keys arrive URL-encoded (`a+b%2Fc` is `a b/c`). One upload can be announced twice (a
multipart upload emits Put and CompleteMultipartUpload), and SQS delivers at least once:
notices are folded to one per key, the latest by the event's sequencer; the ledger then
recognises an object it has already stored by its ETag. Messages are deleted only after
the caller has handled them, so a crash re-delivers rather than loses them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from connectors.importers.s3_source import S3Location, etag_of
from pipeline.errors import InputError
from pipeline.status import StatusCode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notice:
    created: bool  # False: removed
    key: str
    etag: str
    sequencer: str
    order: int  # arrival order, the tie-breaker when there is no sequencer


def parse_message(body: str, where: S3Location, order: int = 0) -> list[Notice]:
    """The notices of one SQS message that concern this bucket and prefix."""
    try:
        doc = json.loads(body)
        if isinstance(doc, dict) and doc.get("Type") == "Notification":  # delivered via SNS
            doc = json.loads(doc["Message"])
    except (json.JSONDecodeError, KeyError, TypeError):
        log.warning("ignoring an SQS message that is not an S3 notification")
        return []
    if not isinstance(doc, dict):
        return []
    notices = []
    for n, record in enumerate(doc.get("Records") or []):  # s3:TestEvent has none
        try:
            name = str(record["eventName"])
            s3 = record["s3"]
            bucket = s3["bucket"]["name"]
            key = unquote_plus(s3["object"]["key"])
        except (KeyError, TypeError):
            continue
        if bucket != where.bucket or not key.startswith(where.prefix):
            continue
        if not (name.startswith("ObjectCreated") or name.startswith("ObjectRemoved")):
            continue
        obj = s3["object"]
        notices.append(
            Notice(
                created=name.startswith("ObjectCreated"),
                key=key,
                etag=etag_of(obj.get("eTag")),
                sequencer=str(obj.get("sequencer", "")),
                order=order * 1000 + n,
            )
        )
    return notices


def fold(notices: list[Notice]) -> list[Notice]:
    """One notice per key: the latest event wins (duplicates and superseded events drop out)."""
    latest: dict[str, Notice] = {}
    for notice in notices:
        seen = latest.get(notice.key)
        if seen is None or _later(notice, seen):
            latest[notice.key] = notice
    return sorted(latest.values(), key=lambda n: n.key)


def _later(a: Notice, b: Notice) -> bool:
    if a.sequencer and b.sequencer and a.sequencer != b.sequencer:
        # Sequencers are hex strings of varying length: compare them as numbers.
        width = max(len(a.sequencer), len(b.sequencer))
        return a.sequencer.rjust(width, "0") > b.sequencer.rjust(width, "0")
    return a.order > b.order


class NotificationQueue:
    """Receive and acknowledge S3 notifications on one SQS queue."""

    def __init__(self, sqs: Any, queue_url: str, where: S3Location) -> None:
        self.sqs, self.queue_url, self.where = sqs, queue_url, where

    def check(self) -> None:
        """Refuse a queue that does not exist or cannot be read, with a clear message."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        except (BotoCoreError, ClientError) as exc:
            raise InputError(
                StatusCode.CONN_DOES_NOT_EXIST,
                f"SQS queue {self.queue_url} cannot be read: {exc}",
            ) from None

    def receive(
        self, max_messages: int = 100, wait_seconds: int = 0
    ) -> tuple[list[Notice], list[str]]:
        """Notices folded per key, and the receipt handles to `ack` once they are handled."""
        notices: list[Notice] = []
        receipts: list[str] = []
        while len(receipts) < max_messages:
            resp = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, max_messages - len(receipts)),
                WaitTimeSeconds=wait_seconds if not receipts else 0,
            )
            messages = resp.get("Messages", [])
            if not messages:
                break
            for msg in messages:
                notices += parse_message(msg.get("Body", ""), self.where, order=len(receipts))
                receipts.append(msg["ReceiptHandle"])
        return fold(notices), receipts

    def ack(self, receipts: list[str]) -> None:
        for start in range(0, len(receipts), 10):
            entries = [
                {"Id": str(n), "ReceiptHandle": handle}
                for n, handle in enumerate(receipts[start : start + 10])
            ]
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
