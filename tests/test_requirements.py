"""The lock files agree with pyproject.toml: every dependency is pinned, with
hashes, to a version its specifier admits (run `make lock` after a change)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", re.MULTILINE)


def project() -> dict[str, object]:
    data: dict[str, object] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return data


def declared(extras: tuple[str, ...]) -> list[Requirement]:
    data = project()
    lines = list(data["dependencies"])  # type: ignore[call-overload]
    optional: dict[str, list[str]] = data["optional-dependencies"]  # type: ignore[assignment]
    for extra in extras:
        lines += optional[extra]
    return [Requirement(line) for line in lines]


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text()
    return {canonicalize_name(name): version for name, version in PIN.findall(text)}


@pytest.mark.parametrize(("lock", "extras"), [("base.txt", ("demo",)), ("dev.txt", ("dev",))])
def test_every_declared_dependency_is_locked_to_an_admitted_version(
    lock: str, extras: tuple[str, ...]
) -> None:
    """A dependency added or narrowed in pyproject.toml without `make lock` fails here."""
    locked = pins(lock)
    for requirement in declared(extras):
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement.name} is not in requirements/{lock}"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"{requirement.name} {requirement.specifier} does not admit the locked {locked[name]}"
        )


@pytest.mark.parametrize("lock", ["base.txt", "dev.txt"])
def test_every_pin_has_a_hash_and_no_machine_path(lock: str) -> None:
    """pip installs the lock with --require-hashes, on any machine."""
    text = (ROOT / "requirements" / lock).read_text()
    blocks = [b for b in re.split(r"\n(?=[A-Za-z0-9])", text) if PIN.match(b)]
    assert len(blocks) == len(pins(lock)) > 10
    unhashed = [b.split(" ", 1)[0] for b in blocks if "--hash=sha256:" not in b]
    assert unhashed == []
    assert "file://" not in text
    assert "--find-links" not in text


def test_the_packages_whose_private_names_the_code_touches_are_pinned_exactly() -> None:
    """daphne, autobahn and Twisted: `==` in pyproject.toml, the same version locked."""
    exact = {
        canonicalize_name(r.name): str(r.specifier)
        for r in declared(())
        if str(r.specifier).startswith("==")
    }
    assert {"daphne", "autobahn", "twisted"} <= set(exact)
    locked = pins("base.txt")
    for name, specifier in exact.items():
        assert specifier == f"=={locked[name]}"
