"""JSON bodies decoded the way Go's encoding/json fills a struct: unknown keys
are ignored, keys match case-insensitively, `null` leaves a field alone, and a
value of the wrong type is a `bad request body` naming the Go field."""

from __future__ import annotations

import json
from typing import Any

from chaos.toxiproxy.errors import BAD_REQUEST_BODY, ApiError

GoType = str  # "string", "bool", "int", "int64", "float32"


def parse_body(body: bytes) -> Any:
    if not body.strip():
        raise BAD_REQUEST_BODY.joined("EOF")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BAD_REQUEST_BODY.joined(f"invalid JSON: {exc}") from exc


def json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def type_error(value: object, where: str, gotype: GoType) -> ApiError:
    # Toxiproxy 2.12's Go prints no value here ("cannot unmarshal number into").
    kind = json_kind(value)
    return BAD_REQUEST_BODY.joined(
        f"json: cannot unmarshal {kind} into Go struct field {where} of type {gotype}"
    )


def fold(data: dict[str, Any]) -> dict[str, Any]:
    """Go matches field names case-insensitively (an exact match wins)."""
    folded: dict[str, Any] = {}
    for key, value in data.items():
        if key.lower() not in folded or key == key.lower():
            folded[key.lower()] = value
    return folded


def convert(value: object, where: str, gotype: GoType) -> Any:
    if gotype == "string":
        if not isinstance(value, str):
            raise type_error(value, where, gotype)
        return value
    if gotype == "bool":
        if not isinstance(value, bool):
            raise type_error(value, where, gotype)
        return value
    if gotype == "float32":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise type_error(value, where, gotype)
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise type_error(value, where, gotype)
    if isinstance(value, float) and not value.is_integer():
        raise type_error(value, where, gotype)
    return int(value)


def decode_into(
    data: object, fields: dict[str, GoType], target: dict[str, Any], struct: str
) -> dict[str, Any]:
    """Fill `target` from a JSON object; returns it."""
    if data is None:
        return target
    if not isinstance(data, dict):
        raise BAD_REQUEST_BODY.joined(
            f"json: cannot unmarshal {json_kind(data)} into Go value of type {struct}"
        )
    folded = fold(data)
    for name, gotype in fields.items():
        if name in folded and folded[name] is not None:
            target[name] = convert(folded[name], f"{struct}.{name}", gotype)
    return target
