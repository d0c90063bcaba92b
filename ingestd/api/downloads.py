"""Downloads over serve's HTTP port: a version's export zip and each input's medium, at the
URLs media_links.py makes (what the SDK's `Dataset.export` fetches with the app's key).

Both need `Authorization: Key <secret>` of the app in the path (exports: GetDatasets, media:
GetInputs). A blob goes through a temp file and out a chunk at a time (http_wire streams it),
so a download never holds a whole export or medium in memory.
"""

from __future__ import annotations

import contextlib
import logging
import mimetypes
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

from ingestd.api import media_links
from ingestd.api.auth import KeyAuth, authorize
from ingestd.api.http_wire import Response
from ingestd.app.runtime import Runtime
from pipeline.errors import IngestError, InputError
from pipeline.keys import Scope
from pipeline.status import StatusCode

log = logging.getLogger("ingestd.api")
_OK = int(StatusCode.SUCCESS)
_MISSING = StatusCode.CONN_DOES_NOT_EXIST

Failure = Callable[[StatusCode, str], Response]  # the platform's Status as an HTTP answer


class Downloads:
    def __init__(self, runtime: Runtime, auth: KeyAuth, failure: Failure) -> None:
        self.rt, self.auth, self.failure = runtime, auth, failure

    def answer(self, path: str, authorization: str | None) -> tuple[str, int, Response] | None:
        """(route name, platform code, answer) of a download path; None for other paths."""
        for name, pattern, serve in (
            ("GET exports", media_links.EXPORT_PATH, self._export),
            ("GET media", media_links.MEDIA_PATH, self._medium),
        ):
            found = pattern.match(path)
            if found is None:
                continue
            params = {k: unquote(v) for k, v in found.groupdict().items()}
            try:
                return name, _OK, serve(params, authorization)
            except IngestError as exc:
                return name, int(exc.code), self.failure(exc.code, exc.message)
            except Exception:
                log.exception("%s failed", name)
                code = StatusCode.INTERNAL_SERVER_ISSUE
                return name, int(code), self.failure(code, f"{name} failed; see serve's log")
        return None

    def _app(self, params: dict[str, str], authorization: str | None, scope: Scope) -> None:
        caller = self.auth.caller(authorization)
        authorize(caller, params["user_id"], params["app_id"], scope)

    def _export(self, params: dict[str, str], authorization: str | None) -> Response:
        self._app(params, authorization, Scope.GET_DATASETS)
        version, fmt = params["version_id"], params["format"]
        row = self.rt.catalog.versions.get_version(params["user_id"], params["app_id"], version)
        info = row.export_info.get(fmt) if row and row.dataset_id == params["dataset_id"] else None
        ok = int(StatusCode.DATA_DUMP_EXPORT_SUCCESS)
        if info is None or info.get("status", {}).get("code") != ok:
            raise InputError(
                _MISSING,
                f"no {fmt} export of version {version!r} of dataset {params['dataset_id']!r}; "
                "ask for one with PutDatasetVersionExports",
            )
        return Response(200, b"", "application/zip", stream=self._open(info["url"]))

    def _medium(self, params: dict[str, str], authorization: str | None) -> Response:
        self._app(params, authorization, Scope.GET_INPUTS)
        key = media_links.blob_key(
            params["user_id"], params["app_id"], params["namespace"], params["tail"]
        )
        if key is None:
            raise InputError(_MISSING, "no such medium in this app")
        kind = mimetypes.guess_type(key)[0] or "application/octet-stream"
        return Response(200, b"", kind, stream=self._open(key))

    def _open(self, key: str) -> BinaryIO:
        """The blob as an open temp file, already unlinked: closing it frees the disk."""
        if self.rt.blobs.size(key) is None:
            raise InputError(_MISSING, "no such medium or export in this app")
        fd, name = tempfile.mkstemp(prefix="ingestd-download-")
        os.close(fd)
        try:
            self.rt.blobs.download(key, Path(name))
            return open(name, "rb")  # noqa: SIM115 - http_wire closes it once sent
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
