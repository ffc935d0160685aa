"""`annotation.core.api.FieldsPerThread`: the queue's input serializers (next's query, submit's body)
copy their fields once per thread, not per request, and validate exactly as fresh DRF copies do."""

import threading

import pytest

from annotation.core.api import FieldsPerThread
from annotation.queue.serializers import NextQuerySerializer, SubmitSerializer

INPUTS = [
    {},
    {"decision": "accept", "scores": {"helpful": 4}, "flags": ["pii"], "duration_seconds": 3.5},
    {"decision": "x" * 33},
    {"flags": "pii", "scores": [], "payload": "no", "rubric_version": 0, "duration_seconds": -1},
    {"edited_text": "  kept  ", "comment": "  trimmed  ", "rubric_version": 3, "payload": {"a": 1}},
    {"flags": ["y" * 65] * 33, "duration_seconds": "soon", "rubric_version": None},
    {"scores": {"k": "\u0000"}},
]


def fresh(serializer_class):
    """The same serializer without FieldsPerThread: DRF's copies per instance."""
    bases = tuple(b for b in serializer_class.__mro__[1:] if b is not FieldsPerThread and b is not object)
    return type(f"Fresh{serializer_class.__name__}", bases[:1], dict(serializer_class._declared_fields))


def outcome(serializer):
    return (
        serializer.is_valid(),
        dict(serializer.validated_data) if not serializer.errors else serializer.errors,
    )


@pytest.mark.parametrize("data", INPUTS)
def test_submit_validates_as_fresh_fields_do_again_and_again(data):
    plain = fresh(SubmitSerializer)
    expected = outcome(plain(data=data))
    for _ in range(3):  # the same thread's fields, reused after any earlier input
        assert outcome(SubmitSerializer(data=data)) == expected
    for other in INPUTS:
        outcome(SubmitSerializer(data=other))
    assert outcome(SubmitSerializer(data=data)) == expected


@pytest.mark.django_db
@pytest.mark.parametrize("data", [{}, {"kind": "sft"}, {"kind": "comparison"}, {"kind": "nope"}])
def test_next_query_validates_as_before(data):
    first = outcome(NextQuerySerializer(data=data))
    assert outcome(NextQuerySerializer(data=data)) == first
    if data.get("kind") == "nope":
        assert first[0] is False and "kind" in first[1]
    else:
        assert first == (True, {"kind": data.get("kind", "sft")})


def test_fields_are_copied_once_per_thread_and_bound_to_each_instance():
    a, b = SubmitSerializer(data={}), SubmitSerializer(data={})
    assert a.fields["flags"] is b.fields["flags"]  # one copy in this thread (DRF: one per instance)
    assert b.fields["flags"].parent is b and b.fields["flags"].root is b
    assert a.fields["flags"] is not SubmitSerializer._declared_fields["flags"]
    seen = []
    thread = threading.Thread(target=lambda: seen.append(SubmitSerializer(data={}).fields["flags"]))
    thread.start()
    thread.join()
    assert seen[0] is not a.fields["flags"]  # another thread: its own copy
