"""Properties of the parameter validator, over generated schemas of the shape Prefect builds and generated values:
valid values pass, a wrong-typed value is named by its field, an unknown name is refused, and nothing raises."""

from __future__ import annotations

from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from workflows.parameters import NON_FIELD, parameter_errors

JSON_TYPES: dict[str, st.SearchStrategy[Any]] = {
    "integer": st.integers(min_value=-(2**53), max_value=2**53),
    "number": st.floats(allow_nan=False, allow_infinity=False),
    "string": st.text(max_size=20),
    "boolean": st.booleans(),
    "array": st.lists(st.integers(), max_size=5),
}
# A value of each type that no other type accepts (an integer is also a "number" in JSON Schema).
WRONG_VALUE = {"integer": "text", "number": "text", "string": 7, "boolean": "yes", "array": {"not": "a list"}}
names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
schemas = st.dictionaries(names, st.sampled_from(sorted(JSON_TYPES)), min_size=1, max_size=6)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)


def _schema(types: dict[str, str]) -> dict[str, Any]:
    """A `parameter_openapi_schema` as Prefect writes it for a flow with these typed parameters, all required."""
    return {
        "type": "object",
        "title": "Parameters",
        "properties": {name: {"type": kind, "title": name} for name, kind in types.items()},
        "required": sorted(types),
    }


@given(types=schemas, data=st.data())
def test_values_of_the_declared_types_are_accepted(types, data):
    values = {name: data.draw(JSON_TYPES[kind]) for name, kind in types.items()}
    assert parameter_errors(_schema(types), values) == {}


@given(types=schemas, data=st.data())
def test_a_value_of_the_wrong_type_is_refused_under_its_own_name_only(types, data):
    values = {name: data.draw(JSON_TYPES[kind]) for name, kind in types.items()}
    wrong = data.draw(st.sampled_from(sorted(types)))
    values[wrong] = WRONG_VALUE[types[wrong]]
    errors = parameter_errors(_schema(types), values)
    assert set(errors) == {wrong}
    assert all(message.strip() for message in errors[wrong])


@given(types=schemas, extra=names, data=st.data())
def test_an_unknown_or_missing_parameter_is_named(types, extra, data):
    assume(extra not in types)
    values = {name: data.draw(JSON_TYPES[kind]) for name, kind in types.items()}
    missing = data.draw(st.sampled_from(sorted(types)))
    del values[missing]
    values[extra] = 1
    errors = parameter_errors(_schema(types), values)
    assert missing in errors and extra in errors
    assert set(errors) == {missing, extra}


@given(types=schemas, parameters=json_values)
def test_any_json_input_gives_messages_and_never_raises(types, parameters):
    errors = parameter_errors(_schema(types), parameters)
    assert isinstance(errors, dict) and all(isinstance(messages, list) and messages for messages in errors.values())
    if not isinstance(parameters, dict):
        assert errors == {NON_FIELD: ["Parameters must be a JSON object."]}
