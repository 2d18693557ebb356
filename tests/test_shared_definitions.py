"""Cached cases of one procedure share one definition on a worker (issue 11: memory per
cached case); only an equal definition is shared, whatever its hash claims."""

from __future__ import annotations

from motcua.workflows.contracts import CompiledProcedure, shared
from tests.helpers import compiled

STEPS = """
steps:
  - id: hello
    call: test.echo
    with: {value: x}
"""


def test_equal_definitions_are_shared_and_a_forged_hash_is_not() -> None:
    first = compiled("shared", STEPS)
    again = CompiledProcedure.model_validate_json(first.model_dump_json())
    assert again is not first
    assert shared(first) is first
    assert shared(again) is first

    other = compiled("other", STEPS)
    forged = CompiledProcedure(definition=other.definition, hash=first.hash)
    assert shared(forged) is forged  # runs its own definition, not the one with that hash
