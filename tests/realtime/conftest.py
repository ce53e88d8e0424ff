from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def forget_users() -> Iterator[None]:
    """Each test's users start unknown: ids repeat once a test's rows roll back."""
    from realtime import auth
    from realtime.orders import api

    yield
    cache.clear()
    api.STANDINGS.clear()
    api.ORDER_RATE.clear()
    auth.STANDINGS.clear()
