"""One canary per private name of daphne, autobahn and Twisted the project
touches: an upgrade that renames or removes one fails the test named after it."""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

import pytest

from realtime.daphne.internals import PRIVATE_NAMES

pytestmark = pytest.mark.timeout(30)


def owner_of(where: str) -> object:
    """A module, or a class inside one."""
    module_name, _, attribute = where.rpartition(".")
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError:
        return getattr(importlib.import_module(module_name), attribute)


def assigned_in(owner: object, name: str) -> bool:
    """Whether some class in `owner`'s MRO assigns `self.<name>` in its source
    (alone, annotated, or as one target of a tuple assignment)."""
    pattern = re.compile(rf"\bself\.{re.escape(name)}\b[ \t\w,.:|\[\]]*=[^=]")
    classes = inspect.getmro(owner) if inspect.isclass(owner) else ()
    for cls in classes:
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            continue
        if pattern.search(source):
            return True
    return False


@pytest.mark.parametrize(
    ("where", "name"), PRIVATE_NAMES, ids=[f"{where}.{name}" for where, name in PRIVATE_NAMES]
)
def test_the_private_name_is_still_there(where: str, name: str) -> None:
    """The attribute, method or instance attribute the project relies on still exists."""
    owner = owner_of(where)
    assert hasattr(owner, name) or assigned_in(owner, name), f"{where} has no {name} any more"


def test_the_twisted_loop_is_the_reactors() -> None:
    """daphne's module loop is the one its asyncio reactor runs on."""
    import daphne.server
    from twisted.internet import reactor

    assert daphne.server.twisted_loop is reactor._asyncioEventloop  # type: ignore[attr-defined]


def test_autobahn_still_copies_its_options_from_the_factory() -> None:
    """The options shared as class attributes are the ones autobahn copies per protocol."""
    from autobahn.websocket.protocol import WebSocketServerProtocol

    source = inspect.getsource(WebSocketServerProtocol)
    assert "CONFIG_ATTRS" in source
    assert "maxMessagePayloadSize" in WebSocketServerProtocol.CONFIG_ATTRS


def test_releasing_the_handshake_empties_what_only_the_handshake_read() -> None:
    """The raw request, its status line, URI, query and response, and the headers go."""
    from types import SimpleNamespace

    from realtime.daphne.internals import release_handshake

    headers = [(b"authorization", b"Bearer x")]
    scope = {"headers": headers}
    params = {"token": ["x"]}
    request = SimpleNamespace(params=params)
    protocol = SimpleNamespace(
        http_request_data=b"GET /ws/orders/?token=x HTTP/1.1",
        http_status_line="GET /ws/orders/?token=x HTTP/1.1",
        http_request_uri="/ws/orders/?token=x",
        http_response_data="HTTP/1.1 101 Switching Protocols",
        http_headers={"host": "h"},
        http_request_params=params,
        clean_headers=headers,
    )
    release_handshake(protocol)
    assert (protocol.http_request_data, protocol.http_headers) == (b"", {})
    assert (protocol.http_status_line, protocol.http_request_uri) == ("", "")
    assert protocol.http_response_data == ""
    assert protocol.http_request_params == {}
    assert request.params == {}
    assert scope["headers"] == []


def test_autobahn_writes_plainly_past_an_empty_tuple_for_its_send_queue() -> None:
    """A plain write with the queue dropped goes to the transport, and a
    synchronised one finds a real queue put back."""
    from collections import deque
    from types import SimpleNamespace

    from autobahn.websocket.protocol import WebSocketProtocol

    from realtime.daphne.internals import drop_send_queue, restore_send_queue

    written: list[bytes] = []
    protocol: Any = WebSocketProtocol()
    protocol.transport = SimpleNamespace(write=written.append)
    protocol.state = WebSocketProtocol.STATE_OPEN
    protocol.trafficStats = SimpleNamespace(outgoingOctetsWireLevel=0)
    protocol.log = SimpleNamespace(debug=lambda *args, **kwargs: None)
    protocol.peer = "tcp:127.0.0.1:1"
    protocol.logOctets = False
    drop_send_queue(protocol)
    protocol.sendData(b"plain")
    assert (written, protocol.send_queue) == ([b"plain"], ())
    restore_send_queue(protocol)
    protocol.send_queue.append((b"queued", True))
    assert isinstance(protocol.send_queue, deque)
    assert len(protocol.send_queue) == 1


def test_the_http_channel_is_behind_what_the_http_factory_builds() -> None:
    """http_channel finds the HTTPChannel whose transport the head deadline aborts."""
    from daphne.http_protocol import HTTPFactory
    from twisted.web.http import HTTPChannel

    from realtime.daphne.internals import http_channel

    protocol = HTTPFactory(server=None).buildProtocol(None)
    assert isinstance(http_channel(protocol), HTTPChannel)


def test_autobahns_debug_text_is_built_only_for_debug_lines() -> None:
    """autobahn's option dump and highlighted names are empty unless txaio logs debug."""
    import autobahn.twisted.websocket
    import autobahn.websocket.protocol
    import txaio

    from realtime.daphne.internals import debug_text_only_for_debug

    source = inspect.getsource(autobahn.websocket.protocol.WebSocketProtocol._connectionMade)
    assert "pformat(configAttrLog)" in source
    assert "hltype(self.dataReceived)" in inspect.getsource(
        autobahn.twisted.websocket.WebSocketAdapterProtocol.dataReceived
    )
    modules = (autobahn.websocket.protocol, autobahn.twisted.websocket)
    originals = [(m, name, getattr(m, name)) for m in modules for name in ("hltype", "hlval")]
    originals.append((autobahn.websocket.protocol, "pformat", autobahn.websocket.protocol.pformat))
    level = txaio.get_global_log_level()
    try:
        debug_text_only_for_debug()
        debug_text_only_for_debug()
        assert autobahn.websocket.protocol.pformat([("a", 1)]) == ""
        assert autobahn.twisted.websocket.hlval(5) == ""
        assert autobahn.websocket.protocol.hltype(owner_of) == ""
        txaio.set_global_log_level("debug")
        assert autobahn.websocket.protocol.pformat([("a", 1)]) == "[('a', 1)]"
        assert "5" in autobahn.twisted.websocket.hlval(5)
        assert "owner_of" in autobahn.websocket.protocol.hltype(owner_of)
    finally:
        txaio.set_global_log_level(level)
        for module, name, original in originals:
            setattr(module, name, original)
