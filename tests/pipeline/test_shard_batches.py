"""Upload requests keyed by shard: batches of one shard each, spread over every partition."""

from __future__ import annotations

import collections
from collections.abc import Iterator

from pipeline.events import UploadRequest
from pipeline.limits import Limits, shard_batches
from pipeline.models import Data, Input, Text
from pipeline.topics import UPLOAD_SHARDS, key_for, partition_for, shard_of_id


def _input(input_id: str | None) -> Input:
    return Input(id=input_id, data=Data(text=Text(raw="x")))


def test_each_batch_holds_one_shard_in_order_within_the_limits() -> None:
    items = [(i % 3, f"item{i}", i % 7 == 0) for i in range(200)]  # (shard, name, video)
    limits = Limits(batch_inputs=10, videos_per_request=1)
    got = list(shard_batches(items, lambda it: it[0], lambda _it: 1, limits, lambda it: it[2]))
    assert sorted(it for batch in got for it in batch) == sorted(items)
    for batch in got:
        assert len({it[0] for it in batch}) == 1
        assert len(batch) <= 10 and sum(it[2] for it in batch) <= 1
    for shard in range(3):  # per shard, the items come out in the order they went in
        seen = [it for batch in got for it in batch if it[0] == shard]
        assert seen == [it for it in items if it[0] == shard]


def test_held_bytes_bound_what_waits_in_open_batches() -> None:
    consumed = 0

    def items() -> Iterator[int]:
        nonlocal consumed
        for n in range(1000):
            consumed += 1
            yield n

    emitted = 0
    for batch in shard_batches(
        items(), lambda n: n % 50, lambda _n: 100, Limits(), held_bytes=1000
    ):
        assert (consumed - emitted) * 100 <= 1000  # what the batcher held when it let go
        emitted += len(batch)
    assert emitted == 1000


def test_upload_requests_of_one_app_spread_over_every_partition() -> None:
    ids = [f"photos/img-{n:05d}.jpg" for n in range(20_000)]
    per_partition: collections.Counter[int] = collections.Counter()
    keys = set()
    items = [_input(i) for i in ids]
    for batch in shard_batches(items, lambda it: shard_of_id(it.id), lambda _it: 1, Limits()):
        request = UploadRequest(app_id="bulk", inputs=batch)
        partition = partition_for(request, 4)
        assert partition is not None
        per_partition[partition] += len(batch)
        keys.add(key_for(request))
    assert len(keys) == UPLOAD_SHARDS
    assert max(per_partition.values()) / len(ids) <= 0.30


def test_requests_for_one_id_share_a_key_and_requests_without_ids_still_get_one() -> None:
    a = UploadRequest(app_id="bulk", inputs=[_input("same"), _input("other")])
    b = UploadRequest(app_id="bulk", inputs=[_input("same")])
    assert key_for(a) == key_for(b) == f"me/bulk/{shard_of_id('same')}"
    anonymous = UploadRequest(app_id="bulk", inputs=[_input(None)])
    assert key_for(anonymous) == f"me/bulk/{shard_of_id(anonymous.request_id)}"
