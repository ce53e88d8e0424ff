"""The package's settings (`realtime/conf.py`): lookup order and bad values."""

from __future__ import annotations

import pytest
from django.test import override_settings

from realtime import conf
from realtime.conf import BadSetting


def test_the_environment_is_parsed_as_the_defaults_type(monkeypatch: pytest.MonkeyPatch) -> None:
    """A number from the environment is a number; an unset one is the default."""
    monkeypatch.setenv("WEBSOCKET_RATE_LIMIT", "7.5")
    monkeypatch.delenv("WEBSOCKET_MAX_LAG", raising=False)
    assert conf.settings.WEBSOCKET_RATE_LIMIT == 7.5
    assert conf.settings.WEBSOCKET_MAX_LAG == 1000


@pytest.mark.parametrize(
    ("name", "raw", "said"),
    [
        ("WEBSOCKET_RATE_LIMIT", "abc", "WEBSOCKET_RATE_LIMIT must be a number, got 'abc'"),
        ("WEBSOCKET_MAX_LAG", "1.5", "WEBSOCKET_MAX_LAG must be a whole number, got '1.5'"),
    ],
)
def test_a_malformed_value_is_named_in_one_sentence(
    monkeypatch: pytest.MonkeyPatch, name: str, raw: str, said: str
) -> None:
    """check() stops at the first bad value with a message naming it and what it must be."""
    monkeypatch.setenv(name, raw)
    with pytest.raises(BadSetting, match=f"^{said}$"):
        conf.check()


def test_django_settings_come_before_the_environment_and_are_read_again_when_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """REALTIME, then a Django setting, then the environment; a change in Django is seen."""
    monkeypatch.setenv("WEBSOCKET_MAX_LAG", "7")
    assert conf.settings.WEBSOCKET_MAX_LAG == 7
    with override_settings(WEBSOCKET_MAX_LAG=8):
        assert conf.settings.WEBSOCKET_MAX_LAG == 8
        with override_settings(REALTIME={"WEBSOCKET_MAX_LAG": 9}):
            assert conf.settings.WEBSOCKET_MAX_LAG == 9
        assert conf.settings.WEBSOCKET_MAX_LAG == 8
    assert conf.settings.WEBSOCKET_MAX_LAG == 7
