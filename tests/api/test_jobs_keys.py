"""Add jobs live in the catalog (they survive a restart); key lookup costs no scrypt for an
unknown secret; an older catalog gets the same schema as a new one."""

from __future__ import annotations

from pathlib import Path

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as res
from clarifai_grpc.grpc.api import service_pb2 as svc
from sqlalchemy import create_engine, inspect, text

import pipeline.keys
from connectors.catalog.sql import SqlCatalog
from ingestd.api.auth import KeyAuth
from ingestd.api.server import start
from pipeline.errors import InputError
from pipeline.keys import Scope, new_key
from pipeline.status import StatusCode
from tests.api.conftest import Server
from tests.api.test_grpc import APP, _meta, _stub, _text
from tests.support.storage import local_settings


def test_an_add_job_survives_a_restart_and_counts_refusals(api: Server, tmp_path: Path) -> None:
    resp = _stub(api).PostInputs(
        svc.PostInputsRequest(
            user_app_id=APP,
            inputs=[_text("a", "one"), _text("b/../x", "bad id"), res.Input(data=res.Data())],
            inputs_add_job_id="job-1",
        ),
        metadata=_meta(api.secret),
    )
    assert resp.status.code == StatusCode.MIXED_STATUS
    # Every input refused before the stage (embeddings are not served): still a request of
    # the job, its refusals counted and listed, the one without an id too.
    regions = res.Data(embeddings=[res.Embedding(vector=[1.0])])
    refused = _stub(api).PostInputs(
        svc.PostInputsRequest(
            user_app_id=APP,
            inputs=[res.Input(id="reg", data=regions), res.Input(data=regions)],
            inputs_add_job_id="job-1",
        ),
        metadata=_meta(api.secret),
    )
    assert refused.status.code == StatusCode.FAILURE
    api.served.stop()
    again = start(local_settings(tmp_path, grpc_port=0, http_port=0))
    try:
        restarted = Server(again, api.secret)
        job = _stub(restarted).GetInputsAddJob(
            svc.GetInputsAddJobRequest(user_app_id=APP, id="job-1"), metadata=_meta(api.secret)
        )
        assert job.status.code == StatusCode.SUCCESS
        p = job.inputs_add_job.progress
        assert (p.pending_count, p.in_progress_count, p.success_count, p.failed_count) == (
            0,
            0,
            1,
            4,
        )
        assert job.inputs_add_job.status.code == StatusCode.JOB_COMPLETED
        catalog = again.runtime.catalog
        counts = catalog.input_counts("me", "main")
        assert (counts["processed"], counts["errors"]) == (1, 4)  # counts add up
        failed = [r["id"] for r in catalog.list_inputs("me", "main", failed_only=True)]
        assert len(failed) == 4 and "reg" in failed
        assert any(i.startswith("(no id) ") for i in failed)
        missing = _stub(restarted).GetInputsAddJob(
            svc.GetInputsAddJobRequest(user_app_id=APP, id="nope"), metadata=_meta(api.secret)
        )
        assert missing.status.code == StatusCode.CONN_DOES_NOT_EXIST
    finally:
        again.stop()


def test_an_unknown_secret_costs_no_scrypt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = SqlCatalog(f"sqlite:///{tmp_path}/c.db")
    keys = [new_key("me", f"app{n}", [Scope.ALL]) for n in range(5)]
    for key, _ in keys:
        catalog.keys.add(key)
    hashed: list[str] = []
    real = pipeline.keys.hash_secret

    def counted(secret: str, salt: bytes) -> str:
        hashed.append(secret)
        return real(secret, salt)

    monkeypatch.setattr(pipeline.keys, "hash_secret", counted)
    auth = KeyAuth(catalog.keys)
    for n in range(20):
        with pytest.raises(InputError) as err:
            auth.caller(f"Key ik_guess{n}")
        assert err.value.code == StatusCode.CONN_KEY_NOT_FOUND
    assert hashed == []
    assert auth.caller(f"Key {keys[3][1]}").app_id == "app3"
    assert len(hashed) == 1  # one scrypt, for the key found


def test_keys_made_before_the_index_are_found_and_indexed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/c.db"
    catalog = SqlCatalog(url)
    key, secret = new_key("me", "main", [Scope.ALL])
    key.secret_index = None  # as a key made before migration 0014
    catalog.keys.add(key)
    assert catalog.keys.unindexed() != []
    assert KeyAuth(catalog.keys).caller(f"Key {secret}").key_id == key.id
    assert catalog.keys.unindexed() == []  # indexed once used


def _schema(url: str) -> dict[str, object]:
    found = inspect(create_engine(url))
    return {
        name: (
            sorted((c["name"], str(c["type"])) for c in found.get_columns(name)),
            sorted(str(i["name"]) for i in found.get_indexes(name)),
        )
        for name in sorted(found.get_table_names())
    }


def test_an_older_catalog_is_upgraded_to_the_new_schema(tmp_path: Path) -> None:
    old, new = f"sqlite:///{tmp_path}/old.db", f"sqlite:///{tmp_path}/new.db"
    SqlCatalog(old).close()
    engine = create_engine(old)
    with engine.begin() as conn:  # back to before 0014
        conn.execute(text("DROP TABLE add_jobs"))
        conn.execute(text("DROP INDEX ix_api_keys_secret_index"))
        conn.execute(text("ALTER TABLE api_keys DROP COLUMN secret_index"))
        conn.execute(text("DELETE FROM schema_migrations WHERE name = '0014_api_add_jobs'"))
    assert "add_jobs" not in inspect(engine).get_table_names()
    SqlCatalog(old).close()
    SqlCatalog(new).close()
    assert _schema(old) == _schema(new)
