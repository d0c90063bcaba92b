"""`ingestd worker`: run every stage as a Faust agent on Kafka, in the `ingestd` group."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from ingestd.app.runtime import Runtime
from ingestd.app.settings import Settings
from streams.delivery import RetryPolicy


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (never settings or secrets)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def logging_config(loglevel: str) -> dict[str, Any]:
    """JSON lines on stderr as the only log output (Faust would add its own text handler)."""
    level = loglevel.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonLogFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "json",
                "level": level,
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
    }


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Start the worker; returns when it is stopped (SIGTERM/SIGINT)."""
    import faust

    from pipeline.topics import TOPICS
    from streams.kafka_app import KafkaTransport, ensure_topics

    if not settings.broker.startswith("kafka://"):
        raise ValueError(
            f"ingestd worker needs INGESTD_BROKER=kafka://host:port (got {settings.broker!r}); "
            "the embedded default runs the stages inside each command instead"
        )
    ensure_topics(
        settings.broker,
        [settings.topic_prefix + t.name for t in TOPICS],
        settings.partitions,
        settings.kafka_replication,
    )
    runtime = Runtime.open(settings)
    transport = KafkaTransport(
        settings.broker,
        runtime.stages(),
        runtime.catalog.record_dead_letter,
        partitions=settings.partitions,
        topic_prefix=settings.topic_prefix,
        session_timeout=settings.kafka_session_timeout,
        # The partition waits out transient failures (S3, database) however long they last.
        policy=RetryPolicy(max_attempts=0, max_backoff=15.0),
        batch_events=settings.stream.batch_events,
        batch_ms=settings.stream.batch_ms,
    )
    if settings.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    worker = faust.Worker(
        transport.app,
        loglevel=loglevel,
        logging_config=logging_config(loglevel),
        quiet=True,
        redirect_stdouts=False,
    )
    # The progress spinner writes terminal escapes to stdout and lowers the root logger to
    # DEBUG (to spin on every record): neither belongs in a service's log.
    worker.spinner = None
    try:
        worker.execute_from_commandline()
    finally:
        transport.close()
        runtime.close()
