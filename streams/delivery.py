"""Delivery of one event to one stage: decode, run, retry what may pass, dead-letter the rest.

Shared by both transports so their behaviour cannot drift. `deliver` never raises: a
Faust agent that raised would have its event acknowledged and dropped, and the embedded
bus would lose a worker thread.
"""

from __future__ import annotations

import json
import logging
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
) -> Delivered:
    """Run `handler` on the decoded event until it succeeds or fails for good.

    `raw` is the message value (Kafka) or, on the embedded bus, the event object itself.
    """
    try:
        event = raw if isinstance(raw, model) else model.model_validate_json(raw)  # type: ignore[arg-type]
    except ValidationError as exc:
        return _dead(
            raw,
            stage,
            StatusCode.CONN_BAD_REQUEST_FORMAT,
            f"event is not a valid {model.__name__}: {_short(exc)}",
            1,
            origin,
            dead_letter_sink,
            policy,
            sleep,
        )
    attempt = 0
    while True:
        attempt += 1
        try:
            return Delivered(result=handler(event), attempts=attempt)
        except InputError as exc:
            return _dead(
                raw, stage, exc.code, exc.message, attempt, origin, dead_letter_sink, policy, sleep
            )
        except TransientError as exc:
            if policy.max_attempts and attempt >= policy.max_attempts:
                return _dead(
                    raw,
                    stage,
                    StatusCode.TRY_AGAIN,
                    f"gave up after {attempt} tries: {exc.message}",
                    attempt,
                    origin,
                    dead_letter_sink,
                    policy,
                    sleep,
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
                return _dead(
                    raw,
                    stage,
                    StatusCode.INTERNAL_SERVER_ISSUE,
                    f"{type(exc).__name__}: {exc}",
                    attempt,
                    origin,
                    dead_letter_sink,
                    policy,
                    sleep,
                )
            log.exception("stage=%s unexpected error (try %d)", stage, attempt)
            sleep(policy.delay(attempt))


def _dead(
    raw: bytes | BaseModel,
    stage: str,
    code: StatusCode,
    message: str,
    attempts: int,
    origin: Origin,
    sink: Callable[[DeadLetter], None],
    policy: RetryPolicy,
    sleep: Callable[[float], None],
) -> Delivered:
    event = _as_json(raw)
    letter = DeadLetter(
        # The catalog keeps 64 characters; a longer id is what made the event invalid anyway.
        event_id=str(event.get("request_id") or event.get("event_id") or "")[:64] or None,
        stage=stage,
        code=code,
        message=message,
        attempts=attempts,
        origin_topic=origin.topic,
        origin_partition=origin.partition,
        origin_offset=origin.offset,
        origin_key=origin.key,
        event=event,
    )
    # The dead letter must be durable before the event is acknowledged: keep trying while
    # the store is only briefly away; a store that refuses the letter itself gets a few tries,
    # then the letter goes to the log in full so a bad event never stops the stage.
    tries = 0
    while True:
        tries += 1
        try:
            sink(letter)
            break
        except TransientError:
            log.warning("dead letter store unavailable (try %d); retrying", tries)
        except Exception:
            log.exception("could not write dead letter (try %d)", tries)
            if tries >= policy.error_attempts:
                log.critical("dead letter not stored, here in full: %s", letter.model_dump_json())
                break
        sleep(policy.delay(min(tries, 6)))
    log.error(
        "stage=%s dead letter %s: %d %s: %s",
        stage,
        letter.dead_letter_id,
        int(code),
        code.name,
        message,
    )
    return Delivered(dead_letter=letter, attempts=attempts)


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
