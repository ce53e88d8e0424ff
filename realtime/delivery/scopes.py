"""What a connection watches, and which events that lets it see (docs/protocol.md),
free of I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Scope:
    """`mine`, `all` or `order:<id>`."""

    kind: Literal["mine", "all", "order"]
    order_id: int | None = None

    @classmethod
    def parse(cls, raw: object) -> Scope | None:
        if raw == "mine":
            return cls("mine")
        if raw == "all":
            return cls("all")
        if isinstance(raw, str) and raw.startswith("order:"):
            digits = raw.removeprefix("order:")
            if digits.isascii() and digits.isdigit() and len(digits) <= 18:
                return cls("order", int(digits))
        return None

    def __str__(self) -> str:
        return f"order:{self.order_id}" if self.kind == "order" else self.kind


MINE = Scope("mine")
ALL = Scope("all")


@dataclass(frozen=True)
class Visibility:
    """Which events one connection may see under its current scopes."""

    user_id: int
    everything: bool = False
    order_ids: frozenset[int] = frozenset()
    mine: bool = True

    @classmethod
    def of(cls, user_id: int, scopes: Iterable[Scope]) -> Visibility:
        scopes = tuple(scopes)
        return cls(
            user_id=user_id,
            everything=ALL in scopes,
            order_ids=frozenset(s.order_id for s in scopes if s.order_id is not None),
            mine=MINE in scopes,
        )

    def admits(self, order_id: int, owner_id: int) -> bool:
        return (
            self.everything
            or order_id in self.order_ids
            or (self.mine and owner_id == self.user_id)
        )
