"""Delivery of one event to one stage: decode, run, retry what may pass, dead-letter the rest.

Shared by both transports so their behaviour cannot drift. `deliver` never raises (but
`Interrupted`, when its caller asked it to stop): a Faust agent that raised would have its
event acknowledged and dropped, and the embedded bus would lose a worker thread.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from pipeline.errors import InputError, TransientError
from pipeline.events import DeadLetter
from pipeline.status import StatusCode

log = logging.getLogger("ingestd.delivery")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff between min and max delay.

    Transient failures get `max_attempts` tries (0: until they pass — the partition waits, as
    on Kafka); unexpected exceptions (bugs) get `error_attempts` before a dead letter.
    """

    max_attempts: int = 8
    min_backoff: float = 0.2
    max_backoff: float = 10.0
    error_attempts: int = 5

    def delay(self, attempt: int, hint: float = 0.0) -> float:
        return max(hint, min(self.max_backoff, self.min_backoff * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class Origin:
    topic: str
    partition: int | None = None
    offset: int | None = None
    key: str | None = None


class Interrupted(Exception):
    """A stop was asked for while the event waited to be retried: it was not delivered.

    The transport must leave the event unacknowledged, so that it is redelivered.
    """


@dataclass
class Delivered:
    """What became of an event: a stage result, or the dead letter written for it."""

    result: Any = None
    dead_letter: DeadLetter | None = None
    attempts: int = 1


def deliver(
    raw: bytes | BaseModel,
    model: type[BaseModel],
    handler: Callable[[Any], Any],
    *,
    stage: str,
    origin: Origin,
    policy: RetryPolicy,
    dead_letter_sink: Callable[[DeadLetter], None],
    sleep: Callable[[float], None] = time.sleep,
    stop: threading.Event | None = None,
    dead_letter_id: str | None = None,
) -> Delivered:
    """Run `handler` on the decoded event until it succeeds or fails for good.

    `raw` is the message value (Kafka) or, on the embedded bus, the event object itself.
    `stop`, once set, ends any retry wait with `Interrupted` (the one exception `deliver`
    raises). `dead_letter_id` names the dead letter, if one is written (default: a new id).
    """
    if stop is not None:
        sleep = _interruptible(stop)
    dead = _Dead(raw, stage, origin, dead_letter_sink, policy, sleep, dead_letter_id)
    try:
        event = raw if isinstance(raw, model) else model.model_validate_json(raw)  # type: ignore[arg-type]
    except ValidationError as exc:
        return dead(
            StatusCode.CONN_BAD_REQUEST_FORMAT,
            f"event is not a valid {model.__name__}: {_short(exc)}",
            1,
        )
    attempt = 0
    while True:
        attempt += 1
        try:
            return Delivered(result=handler(event), attempts=attempt)
        except InputError as exc:
            return dead(exc.code, exc.message, attempt)
        except TransientError as exc:
            if policy.max_attempts and attempt >= policy.max_attempts:
                return dead(
                    StatusCode.TRY_AGAIN,
                    f"gave up after {attempt} tries: {exc.message}",
                    attempt,
                )
            wait = policy.delay(attempt, exc.retry_after)
            log.warning(
                "stage=%s transient failure (try %d), retrying in %.1fs: %s",
                stage,
                attempt,
                wait,
                exc.message,
            )
            sleep(wait)
        except Exception as exc:  # a bug or an unforeseen failure: retry, then dead-letter
            if attempt >= min(policy.error_attempts, policy.max_attempts or policy.error_attempts):
                return dead(
                    StatusCode.INTERNAL_SERVER_ISSUE,
                    f"{type(exc).__name__}: {exc}",
                    attempt,
                )
            log.exception("stage=%s unexpected error (try %d)", stage, attempt)
            sleep(policy.delay(attempt))


@dataclass
class _Dead:
    """Writes the dead letter of one event, durably, and logs the id it was stored under."""

    raw: bytes | BaseModel
    stage: str
    origin: Origin
    sink: Callable[[DeadLetter], None]
    policy: RetryPolicy
    sleep: Callable[[float], None]
    dead_letter_id: str | None

    def __call__(self, code: StatusCode, message: str, attempts: int) -> Delivered:
        event = _as_json(self.raw)
        letter = DeadLetter(
            # The catalog keeps 64 characters; a longer id is what made the event invalid anyway.
            event_id=str(event.get("request_id") or event.get("event_id") or "")[:64] or None,
            stage=self.stage,
            code=code,
            message=message,
            attempts=attempts,
            origin_topic=self.origin.topic,
            origin_partition=self.origin.partition,
            origin_offset=self.origin.offset,
            origin_key=self.origin.key,
            event=event,
        )
        if self.dead_letter_id is not None:
            letter.dead_letter_id = self.dead_letter_id
        # The dead letter must be durable before the event is acknowledged: keep trying while
        # the store is only briefly away; a store that refuses the letter itself gets a few
        # tries, then the letter goes to the log in full so a bad event never stops the stage.
        tries = 0
        while True:
            tries += 1
            try:
                self.sink(letter)
                break
            except TransientError:
                log.warning("dead letter store unavailable (try %d); retrying", tries)
            except Exception:
                log.exception("could not write dead letter (try %d)", tries)
                if tries >= self.policy.error_attempts:
                    log.critical(
                        "dead letter not stored, here in full: %s", letter.model_dump_json()
                    )
                    break
            self.sleep(self.policy.delay(min(tries, 6)))
        log.error(
            "stage=%s dead letter %s: %d %s: %s",
            self.stage,
            letter.dead_letter_id,
            int(code),
            code.name,
            message,
        )
        return Delivered(dead_letter=letter, attempts=attempts)


def _interruptible(stop: threading.Event) -> Callable[[float], None]:
    def wait(seconds: float) -> None:
        if stop.wait(seconds):
            raise Interrupted("stopping")

    return wait


def _as_json(raw: bytes | BaseModel) -> dict[str, Any]:
    if isinstance(raw, BaseModel):
        return raw.model_dump(mode="json")
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {"raw": raw[:4096].decode("utf-8", "replace")}
    return value if isinstance(value, dict) else {"raw": value}


def _short(exc: ValidationError) -> str:
    errors = exc.errors()[:3]
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors]
    more = f" (+{exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
    return "; ".join(parts) + more
