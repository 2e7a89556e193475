"""A run container's limits come from its run's tags; a tag that is not a limit is refused
with what to write instead (the launch then fails with that message)."""

from __future__ import annotations

import pytest

from tether.agent._docker import limits
from tether.errors import ContainerError


@pytest.mark.parametrize(("tags", "expected"), [
    ({}, {}),
    ({"tether/cpu": "0.5"}, {"nano_cpus": 500_000_000}),
    ({"tether/cpu": "2", "tether/memory": "512Mi"},
     {"nano_cpus": 2_000_000_000, "mem_limit": 512 * 1024**2}),
    ({"tether/memory": "1G"}, {"mem_limit": 1000**3}),
    ({"tether/memory": "1.5GiB"}, {"mem_limit": int(1.5 * 1024**3)}),
    ({"tether/memory": "268435456"}, {"mem_limit": 268435456}),
    ({"team": "data"}, {}),
])
def test_limits_from_tags(tags: dict[str, str], expected: dict[str, int]) -> None:
    assert limits(tags) == expected


@pytest.mark.parametrize(("tags", "message"), [
    ({"tether/cpu": "lots"}, "tag tether/cpu='lots': give a number of CPUs, e.g. 0.5 or 2"),
    ({"tether/cpu": "0"}, "tag tether/cpu='0'"),
    ({"tether/memory": "big"}, "tag tether/memory='big': give a size, e.g. 512Mi or 2G"),
    ({"tether/memory": "0Mi"}, "tag tether/memory='0Mi'"),
])
def test_a_bad_limit_tag_is_refused_saying_what_to_write(tags: dict[str, str],
                                                         message: str) -> None:
    with pytest.raises(ContainerError, match="^" + message.replace(".", r"\.")):
        limits(tags)
