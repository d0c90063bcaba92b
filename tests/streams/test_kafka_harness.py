"""The harness's progress wait: slow work passes, stuck work fails."""

from __future__ import annotations

import itertools

import pytest

from tests.support.kafka_harness import wait_progressing


def test_slow_but_moving_work_is_waited_for() -> None:
    # One step per look: far more looks than one stall period holds, and still no failure.
    steps = itertools.count()
    wait_progressing(lambda: next(steps), 50, stall=5.0, what="steps", every=0.0)


def test_work_that_stands_still_fails_naming_how_far_it_got() -> None:
    with pytest.raises(AssertionError, match=r"no progress .* waiting for steps \(3/10\)"):
        wait_progressing(lambda: 3, 10, stall=0.2, what="steps", every=0.05)
