"""Two kinds of failure, said in the type (STYLE.md #4).

`InputError` is terminal: the input (or event) is bad and retrying cannot help; it is
recorded with its status code and the batch goes on. `TransientError` means the world is
briefly unwell (storage, database, network): the transport backs off and retries while
the partition waits, and acknowledges nothing past it.
"""

from __future__ import annotations

from pipeline.status import StatusCode


class IngestError(Exception):
    """Base of ingestd's own errors; carries a status code and an actionable message."""

    def __init__(self, code: StatusCode, message: str) -> None:
        super().__init__(f"{code.value} {code.name}: {message}")
        self.code = code
        self.message = message


class InputError(IngestError):
    """Terminal: this input (or event) is bad; record it and move on."""


class TransientError(IngestError):
    """Retryable: back off and try again; `retry_after` is a hint in seconds."""

    def __init__(
        self, message: str, code: StatusCode = StatusCode.TRY_AGAIN, retry_after: float = 1.0
    ) -> None:
        super().__init__(code, message)
        self.retry_after = retry_after
