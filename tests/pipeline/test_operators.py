"""Pre-queue and post-queue operators on single data points (no storage involved)."""

from __future__ import annotations

import pytest

from pipeline.collect.operators import OPERATORS
from pipeline.collect.operators.datum import Datum, Ports, RunContext
from pipeline.collect.operators.models import parse_prediction
from pipeline.collect.operators.sampling import Draws
from pipeline.errors import InputError
from pipeline.knowledge import KnowledgeGraph
from pipeline.models import (
    AnnotationStatus,
    BoundingBox,
    Concept,
    Region,
    RegionData,
    RegionInfo,
)
from pipeline.status import StatusCode
from tests.support.collectors import run_context


class Relations:
    def __init__(self, triples: list[tuple[str, str, str]]) -> None:
        self.triples = triples
        self.calls = 0

    def relations(self, user_id: str, app_id: str) -> list[tuple[str, str, str]]:
        self.calls += 1
        return self.triples


def ctx(event_id: str = "e1", ports: Ports | None = None, **kw: object) -> RunContext:
    return run_context(event_id, "https://example.com/x.jpg", ports, **kw)


def op(name: str, node_id: str = "n", **params: object):
    kind = OPERATORS[name]
    return kind(node_id, kind.Params.model_validate(params))


def concepts(**values: float) -> list[Concept]:
    return [Concept(id=k, value=v) for k, v in values.items()]


def region(rid: str, **values: float) -> Region:
    box = BoundingBox(top_row=0.1, left_col=0.1, bottom_row=0.5, right_col=0.5)
    return Region(
        id=rid,
        region_info=RegionInfo(bounding_box=box),
        data=RegionData(concepts=concepts(**values)),
    )


# threshold type -> (value, threshold) pairs that pass / fail, at and around the boundary
BOUNDARY = {
    ">": ([0.51], [0.5, 0.49]),
    "GREATER_THAN": ([0.51], [0.5]),
    ">=": ([0.5, 0.51], [0.49]),
    "GREATER_THAN_OR_EQUAL": ([0.5], [0.49]),
    "=": ([0.5], [0.49, 0.51]),
    "EQUAL": ([0.5], [0.51]),
    "!=": ([0.49, 0.51], [0.5]),
    "NOT_EQUAL": ([0.51], [0.5]),
    "<": ([0.49], [0.5, 0.51]),
    "LESS_THAN": ([0.49], [0.5]),
    "<=": ([0.5, 0.49], [0.51]),
    "LESS_THAN_OR_EQUAL": ([0.5], [0.51]),
}


@pytest.mark.parametrize("kind", sorted(BOUNDARY))
def test_concept_thresholder_at_the_boundary(kind: str) -> None:
    thresholder = op("concept-thresholder", concepts={"cat": 0.5}, concept_threshold_type=kind)
    passing, failing = BOUNDARY[kind]
    for value in passing:
        out = thresholder.run(Datum(concepts=concepts(cat=value)), ctx())
        assert out is not None and [c.value for c in out.concepts] == [value], (kind, value)
    for value in failing:
        assert thresholder.run(Datum(concepts=concepts(cat=value)), ctx()) is None, (kind, value)


@pytest.mark.parametrize("kind", sorted(BOUNDARY))
def test_region_thresholder_at_the_boundary(kind: str) -> None:
    thresholder = op(
        "region-thresholder", concepts=[{"id": "car", "value": 0.5}], concept_threshold_type=kind
    )
    passing, failing = BOUNDARY[kind]
    regions = [region(f"p{n}", car=v) for n, v in enumerate(passing)]
    regions += [region(f"f{n}", car=v) for n, v in enumerate(failing)]
    out = thresholder.run(Datum(regions=regions), ctx())
    assert out is not None
    assert [r.id for r in out.regions] == [f"p{n}" for n in range(len(passing))]
    only_failing = Datum(regions=[region(f"f{n}", car=v) for n, v in enumerate(failing)])
    assert thresholder.run(only_failing, ctx()) is None


def test_thresholder_filters_concepts_and_drops_emptied_data_points_and_regions() -> None:
    t = op("concept-thresholder", concepts={"cat": 0.8, "dog": 0.8}, concept_threshold_type=">")
    out = t.run(Datum(concepts=concepts(cat=0.9, dog=0.5, sofa=0.99)), ctx())
    assert out is not None and [c.id for c in out.concepts] == ["cat"]  # unlisted sofa dropped
    assert t.run(Datum(concepts=concepts(cat=0.7, sofa=0.99)), ctx()) is None
    with_default = op("concept-thresholder", concepts={"cat": 0.8}, threshold=0.95)
    out = with_default.run(Datum(concepts=concepts(cat=0.9, sofa=0.99, lamp=0.5)), ctx())
    assert out is not None and [c.id for c in out.concepts] == ["cat", "sofa"]

    r = op("region-thresholder", concepts={"car": 0.5, "person": 0.5})
    mixed = region("r1", car=0.9, person=0.2)
    out = r.run(Datum(regions=[mixed, region("r2", person=0.1)]), ctx())
    assert out is not None and [x.id for x in out.regions] == ["r1"]
    assert [c.id for c in out.regions[0].data.concepts] == ["car"]
    assert [c.id for c in mixed.data.concepts] == ["car", "person"], "input left unchanged"


def test_max_below_min_above_and_close_to_threshold() -> None:
    below = op("max-probability-below", threshold=0.6)
    assert below.run(Datum(concepts=concepts(a=0.59, b=0.2)), ctx()) is not None
    assert below.run(Datum(concepts=concepts(a=0.6, b=0.2)), ctx()) is None
    assert below.run(Datum(regions=[region("r", a=0.7)]), ctx()) is None  # region values count
    above = op("min-probability-above", threshold=0.6)
    assert above.run(Datum(concepts=concepts(a=0.61, b=0.9)), ctx()) is not None
    assert above.run(Datum(concepts=concepts(a=0.6, b=0.9)), ctx()) is None
    selected = op("min-probability-above", threshold=0.5, concepts=["a", "missing"])
    assert selected.run(Datum(concepts=concepts(a=0.9)), ctx()) is None  # missing counts as 0
    close = op("close-to-threshold", threshold=0.5, epsilon=0.1)
    assert close.run(Datum(concepts=concepts(a=0.4)), ctx()) is not None
    assert close.run(Datum(concepts=concepts(a=0.95, b=0.6)), ctx()) is not None
    assert close.run(Datum(concepts=concepts(a=0.39, b=0.61)), ctx()) is None
    assert close.run(Datum(), ctx()) is None


def test_detections_count_more_than_and_less_than() -> None:
    points = Datum(regions=[region("1", car=0.9), region("2", car=0.3), region("3", person=0.8)])
    assert op("detections-count", more_than=2).run(points, ctx()) is not None
    assert op("detections-count", more_than=3).run(points, ctx()) is None
    assert op("detections-count", less_than=3).run(points, ctx()) is None
    assert op("detections-count", less_than=4).run(points, ctx()) is not None
    cars = op("detections-count", more_than=1, concepts=["car"], min_value=0.5)
    assert cars.run(points, ctx()) is None  # one confident car only
    assert op("detections-count", more_than=0, less_than=2).run(Datum(), ctx()) is None


def test_metadata_filter_matches_sub_documents() -> None:
    f = op("metadata-filter", metadata={"source": "cam", "site": {"id": 7}})
    assert f.run(Datum(metadata={"source": "cam", "site": {"id": 7, "x": 1}}), ctx()) is not None
    assert f.run(Datum(metadata={"source": "cam", "site": {"id": 8}}), ctx()) is None
    assert f.run(Datum(metadata={"source": "cam"}), ctx()) is None
    exclude = op("metadata-filter", metadata={"source": "cam"}, exclude=True)
    assert exclude.run(Datum(metadata={"source": "cam"}), ctx()) is None
    assert exclude.run(Datum(metadata={}), ctx()) is not None


def test_random_sample_is_seedable_replay_stable_and_matches_keep_fraction() -> None:
    sample = op("random-sample", keep_fraction=0.3, seed=7)
    n = 20_000
    kept = [sample.run(Datum(), ctx(f"event-{i}")) is not None for i in range(n)]
    # Binomial(20000, 0.3): sd ~ 65; 5 sd either side.
    assert abs(sum(kept) - 0.3 * n) < 5 * (n * 0.3 * 0.7) ** 0.5
    again = [sample.run(Datum(), ctx(f"event-{i}")) is not None for i in range(n)]
    assert again == kept, "the same event must be kept or dropped the same way on replay"
    other_seed = op("random-sample", keep_fraction=0.3, seed=8)
    reseeded = [other_seed.run(Datum(), ctx(f"event-{i}")) is not None for i in range(n)]
    assert reseeded != kept
    assert all(op("random-sample", keep_fraction=1).run(Datum(), ctx(f"e{i}")) for i in range(500))
    assert not any(
        op("random-sample", keep_fraction=0).run(Datum(), ctx(f"e{i}")) for i in range(500)
    )
    assert Draws("a").draw("x") == Draws("a").draw("x") != Draws("b").draw("x")


def test_synonym_mapper_follows_the_knowledge_graph() -> None:
    kg = Relations(
        [("cat", "synonym", "feline"), ("animal", "hypernym", "cat"), ("kitten", "hyponym", "cat")]
    )
    ports = Ports(knowledge=kg)
    mapper = op("concept-synonym-mapper")
    out = mapper.run(Datum(concepts=concepts(feline=0.9, car=0.8)), ctx(ports=ports))
    assert out is not None and [(c.id, c.value) for c in out.concepts] == [("cat", 0.9)]
    assert mapper.run(Datum(concepts=concepts(car=0.8)), ctx(ports=ports)) is None
    up = op("concept-synonym-mapper", relations=["hypernym"], keep_unmapped=True)
    out = up.run(Datum(concepts=concepts(cat=0.7, car=0.8)), ctx(ports=ports))
    assert out is not None and sorted(c.id for c in out.concepts) == ["animal", "car"]
    down = op("concept-synonym-mapper", relations=["hyponym"])
    out = down.run(Datum(regions=[region("r", cat=0.6)]), ctx(ports=ports))
    assert out is not None and [c.id for c in out.regions[0].data.concepts] == ["kitten"]
    graph = KnowledgeGraph(kg.triples)
    assert graph.related("cat", "hypernym") == ["animal"]  # type: ignore[arg-type]


def test_annotation_writer_writes_predictions_with_its_settings() -> None:
    writer = op(
        "annotation-writer",
        annotation_status="ANNOTATION_AWAITING_REVIEW",
        annotation_user_id="labeler",
        task_id="t1",
        annotation_info={"why": "auto"},
    )
    datum = Datum(
        concepts=concepts(cat=0.9),
        regions=[region("r", dog=0.8)],
        text="a cat",
        model_version_id="mv",
    )
    out = writer.run(datum, ctx())
    assert out is not None and out.written and len(out.annotations) == 3
    for ann in out.annotations:
        assert ann.status is AnnotationStatus.AWAITING_REVIEW
        assert (ann.user_id, ann.task_id, ann.model_version_id) == ("labeler", "t1", "mv")
        assert ann.annotation_info == {"why": "auto"}
    assert out.annotations[2].data.text is not None and out.annotations[2].data.text.raw == "a cat"
    for bad in ("ANNOTATION_REVIEW_DENIED", "DONE"):
        with pytest.raises(ValueError):
            OPERATORS["annotation-writer"].Params.model_validate({"annotation_status": bad})


def test_model_answers_in_both_shapes_and_garbage_is_refused() -> None:
    bare = {"concepts": [{"id": "cat", "value": 0.9}], "text": "a cat"}
    platform = {
        "outputs": [
            {
                "data": {
                    "concepts": [{"name": "cat", "value": 0.9, "app_id": "x"}],
                    "regions": [
                        {
                            "region_info": {
                                "bounding_box": {
                                    "top_row": 0,
                                    "left_col": 0,
                                    "bottom_row": 1,
                                    "right_col": 1,
                                }
                            },
                            "data": {"concepts": [{"id": "car", "value": 0.4}]},
                        }
                    ],
                    "text": {"raw": "a cat"},
                }
            }
        ]
    }
    c1, r1, t1 = parse_prediction(bare, "m")
    c2, r2, t2 = parse_prediction(platform, "m")
    assert [c.id for c in c1] == [c.id for c in c2] == ["cat"] and t1 == t2 == "a cat"
    assert r1 == [] and r2[0].data.concepts[0].id == "car"
    for garbage in (
        [1, 2],
        "hello",
        {"concepts": "cat"},
        {"concepts": [{"id": "cat", "value": 7}]},
        {"text": 5},
        {"regions": [{"region_info": {"bounding_box": {"top_row": 2}}}]},
        {"concepts": [{"value": 0.5}]},
    ):
        with pytest.raises(InputError) as err:
            parse_prediction(garbage, "model node 'm'")
        assert err.value.code is StatusCode.MODEL_PREDICTION_FAILED
        assert "model node 'm'" in err.value.message


def test_operator_params_are_validated() -> None:
    bad = {
        "random-sample": {"keep_fraction": 1.5},
        "concept-thresholder": {},
        "detections-count": {"more_than": 3, "less_than": 4},
        "quota": {},
        "model": {"url": "file:///etc/passwd"},
        "metadata-filter": {"metadata": {}},
    }
    for name, params in bad.items():
        with pytest.raises(ValueError):
            OPERATORS[name].Params.model_validate(params)
    with pytest.raises(ValueError):
        OPERATORS["concept-thresholder"].Params.model_validate({"threshold": 0.5, "typo": 1})
