"""PutDatasetVersionExports: a ready version zipped as COCO or CLARIFAI_DATA_JSON into the
blob store (as `ingestd versions export` does), built once and then reused; and as
CLARIFAI_DATA_PROTOBUF (protobuf_export.py, what the SDK's `Dataset.export` asks for), whose
url is its download on serve's HTTP port (downloads.py), rebuilt when that address changes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as res
from clarifai_grpc.grpc.api import service_pb2 as svc
from clarifai_grpc.grpc.api.status import status_pb2

from ingestd.api import media_links, protobuf_export
from ingestd.api.convert import status
from ingestd.app.runtime import Runtime
from pipeline.errors import InputError
from pipeline.snapshot.export import COCO, JSON, export_version
from pipeline.snapshot.manifest import version_prefix
from pipeline.snapshot.ports import VersionRow
from pipeline.status import StatusCode

# The platform's DatasetVersionExport status codes (clarifai-grpc's status_code_pb2).
_EXPORT_SUCCESS, _EXPORT_FAILED = 64200, 64202
_FORMATS = {"COCO": COCO, "CLARIFAI_DATA_JSON": JSON}
_FORMATS[protobuf_export.PROTOBUF] = protobuf_export.PROTOBUF


class ExportsApi:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.base_url = ""  # serve's HTTP address, once it listens (server.start)

    def put_dataset_version_exports(
        self, req: svc.PutDatasetVersionExportsRequest, user: str, app: str
    ) -> Any:
        row = self.rt.catalog.versions.get_version(user, app, req.dataset_version_id)
        if row is None or row.dataset_id != req.dataset_id:
            raise InputError(
                StatusCode.CONN_DOES_NOT_EXIST,
                f"no version {req.dataset_version_id!r} of dataset {req.dataset_id!r}",
            )
        if row.status_code != StatusCode.DATASET_VERSION_READY or not row.manifest_key:
            raise InputError(
                StatusCode(row.status_code),
                f"version {row.id!r} is not ready yet ({StatusCode(row.status_code).name}); "
                "export it once GetDatasetVersion says DATASET_VERSION_READY",
            )
        resp = svc.MultiDatasetVersionExportResponse()
        for wanted in req.exports or [res.DatasetVersionExport(format=res.COCO)]:
            name = res.DatasetVersionExportFormat.Name(wanted.format)
            out = resp.exports.add(format=wanted.format)
            fmt = _FORMATS.get(name)
            if fmt is None or (fmt == protobuf_export.PROTOBUF and not self.base_url):
                out.status.CopyFrom(_export_status(_EXPORT_FAILED, _unsupported(name)))
                continue
            info = self._export(user, app, row, fmt)
            ok = info["status"]["code"] == int(StatusCode.DATA_DUMP_EXPORT_SUCCESS)
            out.status.CopyFrom(
                _export_status(
                    _EXPORT_SUCCESS if ok else _EXPORT_FAILED, info["status"]["description"]
                )
            )
            if ok:
                out.url, out.size = info["url"], info["size"]
                if fmt == protobuf_export.PROTOBUF:
                    out.url = media_links.export_url(
                        self.base_url, user, app, row.dataset_id, row.id, fmt
                    )
        resp.status.CopyFrom(status(StatusCode.SUCCESS))
        return resp

    def _export(self, user: str, app: str, row: VersionRow, fmt: str) -> dict[str, Any]:
        info = row.export_info.get(fmt)
        done = info is not None and info.get("status", {}).get("code") == int(
            StatusCode.DATA_DUMP_EXPORT_SUCCESS
        )
        if (
            done
            and info is not None
            and info.get("base_url", self.base_url) == self.base_url
            and self.rt.blobs.exists(info["url"])
        ):
            return info
        with tempfile.TemporaryDirectory(prefix="ingestd-export-") as tmp:
            manifest = Path(tmp) / "manifest.jsonl"
            self.rt.blobs.download(row.manifest_key or "", manifest)
            version = row.to_dict()
            version.pop("export_info")
            prefix = version_prefix(user, app, row.dataset_id, row.id)
            if fmt == protobuf_export.PROTOBUF:
                info = protobuf_export.build(
                    manifest, row, self.rt.blobs, prefix, Path(tmp), self.base_url
                )
            else:
                info = export_version(fmt, manifest, version, self.rt.blobs, prefix, Path(tmp))
        self.rt.catalog.versions.record_export(user, app, row.id, fmt, info)
        return info


def _unsupported(name: str) -> str:
    if name == protobuf_export.PROTOBUF:  # its url is on the HTTP port, which is not up
        return f"{name} exports are served once serve's HTTP port listens; try again"
    return (
        f"ingestd does not build {name} exports; ask for COCO, CLARIFAI_DATA_JSON or "
        "CLARIFAI_DATA_PROTOBUF (the zip is put in the blob store)"
    )


def _export_status(code: int, details: str) -> status_pb2.Status:
    return status_pb2.Status(code=code, details=details)
