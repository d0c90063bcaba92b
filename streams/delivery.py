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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from pipeline.errors import InputError, TransientError
from pipeline.events import DeadLetter
from pipeline.ids import derived_id
from pipeline.stage import FollowUp, Stage, StageResult
from pipeline.status import StatusCode
from pipeline.topics import Topic, UnroutableEvent, topic_of

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

    result: StageResult | None = None
    dead_letter: DeadLetter | None = None
    attempts: int = 1


def deliver(
    raw: bytes | BaseModel,
    stage: Stage[Any],
    *,
    origin: Origin,
    policy: RetryPolicy,
    dead_letter_sink: Callable[[DeadLetter], None],
    sleep: Callable[[float], None] = time.sleep,
    stop: threading.Event | None = None,
    dead_letter_id: str | None = None,
) -> Delivered:
    """Run the stage on the decoded event until it succeeds or fails for good.

    `raw` is the message value (Kafka) or, on the embedded bus, the event object itself.
    `stop`, once set, ends any retry wait with `Interrupted` (the one exception `deliver`
    raises). `dead_letter_id` names the dead letter, if one is written (default: a new id).
    """
    if stop is not None:
        sleep = _interruptible(stop)
    model: type[BaseModel] = stage.event_type
    name = stage.name

    def dead(code: StatusCode, message: str, attempts: int) -> Delivered:
        item = Item(raw, origin, dead_letter_id)
        return _dead(item, name, code, message, attempts, dead_letter_sink, policy, sleep)

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
            return Delivered(result=stage.handle(event), attempts=attempt)
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
                name,
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
            log.exception("stage=%s unexpected error (try %d)", name, attempt)
            sleep(policy.delay(attempt))


@dataclass(frozen=True)
class Item:
    """One message of a batch: its value, where it came from, the id of its dead letter."""

    raw: bytes | BaseModel
    origin: Origin
    dead_letter_id: str | None = None


def deliver_batch(
    items: Sequence[Item],
    stage: Stage[Any],
    *,
    policy: RetryPolicy,
    dead_letter_sink: Callable[[DeadLetter], None],
    sleep: Callable[[float], None] = time.sleep,
    stop: threading.Event | None = None,
) -> list[Delivered]:
    """`deliver` for several messages at once: through the stage's `handle_batch` (one
    catalog transaction) where it has one, else one by one.

    What the batch leaves to `handle` (an event that cannot be planned, or all of them when
    the batch transaction failed for one event's reason) goes through `deliver` alone, so
    one event's failure neither holds nor loses the others and a poison event is one dead
    letter. A transient failure of the batch retries it whole, as `deliver` retries one
    event; past `max_attempts` each event becomes its dead letter.
    """

    def alone(item: Item) -> Delivered:
        return deliver(
            item.raw,
            stage,
            origin=item.origin,
            policy=policy,
            dead_letter_sink=dead_letter_sink,
            sleep=sleep,
            stop=stop,
            dead_letter_id=item.dead_letter_id,
        )

    batch: Callable[[list[Any]], Sequence[StageResult | None]] | None
    batch = getattr(stage, "handle_batch", None)
    if batch is None or len(items) < 2:
        return [alone(item) for item in items]
    wait = _interruptible(stop) if stop is not None else sleep
    model: type[BaseModel] = stage.event_type
    events: list[tuple[Item, BaseModel]] = []
    for item in items:
        try:
            raw = item.raw
            events.append((item, raw if isinstance(raw, model) else model.model_validate_json(raw)))  # type: ignore[arg-type]
        except ValidationError:
            pass  # delivered alone: it becomes its dead letter there
    results: dict[int, StageResult | None] = {}
    attempt = 0
    while events:
        attempt += 1
        try:
            got = batch([event for _, event in events])
        except TransientError as exc:
            if policy.max_attempts and attempt >= policy.max_attempts:
                message = f"gave up after {attempt} tries: {exc.message}"
                letters = {
                    id(item): _dead(
                        item,
                        stage.name,
                        StatusCode.TRY_AGAIN,
                        message,
                        attempt,
                        dead_letter_sink,
                        policy,
                        wait,
                    )
                    for item, _ in events
                }
                return [letters.get(id(item)) or alone(item) for item in items]
            delay = policy.delay(attempt, exc.retry_after)
            log.warning(
                "stage=%s batch of %d: transient failure (try %d), retrying it whole in %.1fs: %s",
                stage.name,
                len(events),
                attempt,
                delay,
                exc.message,
            )
            wait(delay)
            continue
        except Exception:  # a bug in the batch's own path: the events go one by one
            log.exception(
                "stage=%s batch of %d failed; its events go alone", stage.name, len(events)
            )
            got = [None] * len(events)
        results = {id(item): result for (item, _), result in zip(events, got, strict=True)}
        break
    return [
        alone(item)
        if results.get(id(item)) is None
        else Delivered(result=results[id(item)], attempts=attempt)
        for item in items
    ]


def _dead(
    item: Item,
    stage: str,
    code: StatusCode,
    message: str,
    attempts: int,
    sink: Callable[[DeadLetter], None],
    policy: RetryPolicy,
    sleep: Callable[[float], None],
) -> Delivered:
    letter = dead_letter(
        _as_json(item.raw), stage, code, message, item.origin, attempts, item.dead_letter_id
    )
    store_dead_letter(letter, sink, policy, sleep)
    return Delivered(dead_letter=letter, attempts=attempts)


def dead_letter(
    event: dict[str, Any],
    stage: str,
    code: StatusCode,
    message: str,
    origin: Origin,
    attempts: int = 1,
    dead_letter_id: str | None = None,
) -> DeadLetter:
    """The dead letter of an event (as JSON) that `stage` could not process, or route."""
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
    if dead_letter_id is not None:
        letter.dead_letter_id = dead_letter_id
    return letter


def store_dead_letter(
    letter: DeadLetter,
    sink: Callable[[DeadLetter], None],
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Write a dead letter durably, and log the id it was stored under.

    The dead letter must be durable before the event is acknowledged: keep trying while the
    store is only briefly away; a store that refuses the letter itself gets a few tries, then
    the letter goes to the log in full so a bad event never stops the stage.
    """
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
        letter.stage,
        letter.dead_letter_id,
        int(letter.code),
        letter.code.name,
        letter.message,
    )


def route_follow_ups(
    result: StageResult | None,
    origin: Origin,
    dead_letter_id: str | None = None,
    served: Callable[[str], bool] = lambda _topic: True,
) -> tuple[list[tuple[Topic, FollowUp]], list[DeadLetter]]:
    """A stage's follow-ups with the topic of each; those no (`served`) topic carries as
    dead letters.

    An unroutable follow-up is a bug in a stage; it becomes a dead letter (stage `route`)
    rather than a partition stuck on it. Its id derives from `dead_letter_id` (Kafka: from the
    origin offset), so a redelivered event writes the same letters.
    """
    routed: list[tuple[Topic, FollowUp]] = []
    letters: list[DeadLetter] = []
    for n, follow_up in enumerate(result.follow_ups if result is not None else ()):
        try:
            topic = topic_of(follow_up)
            if not served(topic.name):
                raise UnroutableEvent(f"no stage serves {topic.name} here")
            routed.append((topic, follow_up))
        except UnroutableEvent as exc:
            letter_id = derived_id(dead_letter_id, "follow-up", str(n)) if dead_letter_id else None
            letters.append(
                dead_letter(
                    follow_up.model_dump(mode="json"),
                    "route",
                    StatusCode.INTERNAL_SERVER_ISSUE,
                    str(exc),
                    origin,
                    dead_letter_id=letter_id,
                )
            )
    return routed, letters


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
