"""Flow-run parameters checked against a deployment's `parameter_openapi_schema` (JSON Schema, as Prefect builds it
from the flow's type hints), so a bad value is refused with a per-field message before anything reaches Prefect."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, SchemaError
from jsonschema.exceptions import ValidationError
from jsonschema.validators import validator_for

NON_FIELD = "__all__"


def parameter_errors(schema: dict[str, Any], parameters: Any) -> dict[str, list[str]]:
    """Per-parameter error messages (empty when the parameters are valid). Unknown parameter names are errors too."""
    if not isinstance(parameters, dict):
        return {NON_FIELD: ["Parameters must be a JSON object."]}
    if not schema:
        return {}
    errors: dict[str, list[str]] = {}
    for name in unknown_parameters(schema, parameters):
        errors.setdefault(name, []).append(f"'{name}' is not a parameter of this deployment.")
    try:
        validator_class = validator_for(schema, default=Draft202012Validator)
        validator_class.check_schema(schema)
    except SchemaError as exc:
        return {NON_FIELD: [f"The deployment's parameter schema is invalid: {exc.message}"]}
    for error in validator_class(schema).iter_errors(parameters):
        for field in _fields_of(error):
            errors.setdefault(field, []).append(_message(error))
    return errors


def unknown_parameters(schema: dict[str, Any], parameters: dict[str, Any]) -> list[str]:
    properties = schema.get("properties")
    if properties is None or schema.get("additionalProperties") is True:
        return []
    return sorted(name for name in parameters if name not in properties)


def _fields_of(error: ValidationError) -> list[str]:
    if error.path:
        return [str(error.path[0])]
    if error.validator == "required" and isinstance(error.instance, dict):
        return [name for name in error.validator_value if name not in error.instance] or [NON_FIELD]
    return [NON_FIELD]


def _message(error: ValidationError) -> str:
    location = "".join(f"[{part!r}]" for part in list(error.path)[1:])
    return f"{location}: {error.message}" if location else error.message
