"""scripts/kafka/broker.sh formats its data directory whatever cluster id it draws."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.support.kafka_broker import BROKER_SH, KafkaBroker, free_port


@pytest.mark.kafka
@pytest.mark.skipif(shutil.which("java") is None, reason="needs java")
@pytest.mark.parametrize("cluster_id", ["-AbCdEfGhIjKlMnOpQrStUg", "--bcdefghijklmnopqrstuv"])
def test_a_cluster_id_starting_with_a_dash_formats(tmp_path, cluster_id) -> None:
    # kafka-storage once read such an id (one random id in 64) as an option and refused it.
    broker = KafkaBroker(tmp_path / "data", free_port())
    broker.format(cluster_id)
    assert broker.cluster_id() == cluster_id


def test_random_cluster_ids_are_kafka_uuids_not_starting_with_a_dash() -> None:
    # 1024 draws: a generator letting one id in 64 start with '-' passes with p ~ 1e-7.
    out = subprocess.run(
        ["bash", str(BROKER_SH), "cluster-ids", "1024"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout.split()
    assert len(out) == 1024 and len(set(out)) == 1024
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", cid) for cid in out)
    assert not [cid for cid in out if cid.startswith("-")]
