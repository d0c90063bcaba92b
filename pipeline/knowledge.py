"""The app's knowledge graph: relations between concepts (synonym, hypernym, hyponym).

`hypernym A B` says A is a more general concept than B (animal > cat); `hyponym A B` the
reverse. Synonyms hold both ways. The synonym mapper follows these to rename concepts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from enum import StrEnum

from pipeline.errors import InputError
from pipeline.ids import check_id
from pipeline.status import StatusCode


class Relation(StrEnum):
    SYNONYM = "synonym"
    HYPERNYM = "hypernym"
    HYPONYM = "hyponym"


def check_relation(subject: str, predicate: str, obj: str) -> tuple[str, Relation, str]:
    """A relation as stored, or InputError (40003) saying what is wrong."""
    try:
        relation = Relation(predicate.lower())
    except ValueError:
        raise InputError(
            StatusCode.CONCEPTS_INVALID_REQUEST,
            f"unknown relation {predicate!r}; use {', '.join(r.value for r in Relation)}",
        ) from None
    for concept in (subject, obj):
        check_id(concept, "concept id")
    if subject == obj:
        raise InputError(
            StatusCode.CONCEPTS_INVALID_REQUEST, f"a concept cannot relate to itself ({subject!r})"
        )
    return subject, relation, obj


class KnowledgeGraph:
    """Lookups over an app's relations: what a concept maps to under each relation."""

    def __init__(self, relations: Iterable[tuple[str, str, str]]) -> None:
        self._to: dict[Relation, dict[str, list[str]]] = {r: defaultdict(list) for r in Relation}
        for subject, predicate, obj in relations:
            relation = Relation(predicate)
            if relation is Relation.SYNONYM:
                self._add(Relation.SYNONYM, subject, obj)
                self._add(Relation.SYNONYM, obj, subject)
            else:
                # Store both directions: "hypernyms of B" and "hyponyms of A" alike.
                general, specific = (
                    (subject, obj) if relation is Relation.HYPERNYM else (obj, subject)
                )
                self._add(Relation.HYPERNYM, specific, general)
                self._add(Relation.HYPONYM, general, specific)

    def _add(self, relation: Relation, concept: str, other: str) -> None:
        targets = self._to[relation][concept]
        if other not in targets:
            targets.append(other)

    def related(self, concept: str, relation: Relation) -> list[str]:
        """Synonyms of `concept`, its hypernyms (more general) or its hyponyms (more specific)."""
        return self._to[relation].get(concept, [])
