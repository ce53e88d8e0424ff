"""Toxic definitions as the API sees them (Toxiproxy's ToxicWrapper): type,
stream, name, toxicity and typed attributes with Toxiproxy's defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chaos.toxiproxy.decoding import GoType, decode_into, parse_body
from chaos.toxiproxy.errors import INVALID_STREAM, INVALID_TOXIC_TYPE, TOXIC_EXISTS, ApiError

UPSTREAM = "upstream"
DOWNSTREAM = "downstream"


@dataclass(frozen=True)
class Kind:
    struct: str
    attributes: dict[str, GoType]


# Attribute names and Go types in the order Toxiproxy marshals them.
KINDS: dict[str, Kind] = {
    "latency": Kind("LatencyToxic", {"latency": "int64", "jitter": "int64"}),
    "bandwidth": Kind("BandwidthToxic", {"rate": "int64"}),
    "slow_close": Kind("SlowCloseToxic", {"delay": "int64"}),
    "timeout": Kind("TimeoutToxic", {"timeout": "int64"}),
    "reset_peer": Kind("ResetToxic", {"timeout": "int64"}),
    "slicer": Kind("SlicerToxic", {"average_size": "int", "size_variation": "int", "delay": "int"}),
    "limit_data": Kind("LimitDataToxic", {"bytes": "int64"}),
    "noop": Kind("NoopToxic", {}),
}

WRAPPER_FIELDS: dict[str, GoType] = {
    "name": "string",
    "type": "string",
    "stream": "string",
    "toxicity": "float32",
}


@dataclass
class Toxic:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, int] = field(default_factory=dict)

    @property
    def direction(self) -> str:
        return self.stream.lower()

    def attr(self, name: str) -> int:
        return self.attributes.get(name, 0)

    def as_json(self) -> dict[str, Any]:
        return {
            "attributes": dict(self.attributes),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            # Go marshals a float64 of 1 as `1`, not `1.0`.
            "toxicity": int(self.toxicity) if self.toxicity.is_integer() else self.toxicity,
        }

    def update(self, body: bytes) -> None:
        """Merge a PATCH body: given attributes and toxicity replace, the rest stay."""
        data = parse_body(body)
        kind = KINDS[self.type]
        fields: dict[str, GoType] = {"toxicity": "float32"}
        merged = decode_into(data, fields, {"toxicity": self.toxicity}, "ToxicWrapper")
        raw = data.get("attributes") if isinstance(data, dict) else None
        attributes = decode_into(
            raw, kind.attributes, dict(self.attributes), f"{kind.struct}.attributes"
        )
        check(Toxic(self.name, self.type, self.stream, merged["toxicity"], attributes))
        self.attributes = attributes
        self.toxicity = merged["toxicity"]


def parse_new(body: bytes, taken: set[str]) -> Toxic:
    """A toxic from a POST body, validated in Toxiproxy's order."""
    data = parse_body(body)
    defaults: dict[str, Any] = {"name": "", "type": "", "stream": DOWNSTREAM, "toxicity": 1.0}
    wrapper = decode_into(data, WRAPPER_FIELDS, defaults, "ToxicWrapper")
    if wrapper["stream"].lower() not in (UPSTREAM, DOWNSTREAM):
        raise INVALID_STREAM
    if not wrapper["name"]:
        wrapper["name"] = f"{wrapper['type']}_{wrapper['stream']}"
    kind = KINDS.get(wrapper["type"])
    if kind is None:
        raise INVALID_TOXIC_TYPE
    if wrapper["name"] in taken:
        raise TOXIC_EXISTS
    assert isinstance(data, dict)
    attributes = {name: 0 for name in kind.attributes}
    decode_into(data.get("attributes"), kind.attributes, attributes, f"{kind.struct}.attributes")
    toxic = Toxic(
        wrapper["name"], wrapper["type"], wrapper["stream"], wrapper["toxicity"], attributes
    )
    check(toxic)
    return toxic


def check(toxic: Toxic) -> None:
    """Refuse attributes that would crash a toxic rather than degrade it."""
    if toxic.type == "slicer" and toxic.attr("average_size") <= 0:
        raise ApiError("bad request body: slicer average_size must be positive", 400)
