from __future__ import annotations

import json

from realtime.observability.summary import parse, render, summarize

TEXT = [
    "2026-11-23T01:00:00.000+00:00 INFO realtime.ws accept conn=a user=alice staff=False cursor=3",
    "2026-11-23T01:00:01.000+00:00 INFO realtime.ws close conn=a user=alice code=1006 "
    'reason="connection lost" duration=1.5 messages_in=1 messages_out=2',
    "2026-11-23T01:00:02.000+00:00 WARNING realtime.delivery channel layer receive failed: "
    "ConnectionError (suppressed 4 repeats)",
    "Traceback (most recent call last):",
]


def test_text_lines_parse_into_event_and_fields() -> None:
    """The event is the text before the first key=value; quoted values lose their quotes."""
    entry = parse(TEXT[1])
    assert entry is not None
    assert (entry.level, entry.logger, entry.event) == ("INFO", "realtime.ws", "close")
    assert entry.fields["reason"] == "connection lost"
    assert entry.fields["code"] == "1006"
    assert parse(TEXT[3]) is None


def test_summary_counts_connections_codes_durations_warnings_and_repeats() -> None:
    """Text and JSON logs give the same summary."""
    json_lines = [
        json.dumps(
            {"ts": "t1", "level": "INFO", "logger": "realtime.ws", "event": "accept", "conn": "j"}
        ),
        json.dumps(
            {
                "ts": "t2",
                "level": "INFO",
                "logger": "realtime.ws",
                "event": "close",
                "conn": "j",
                "code": 4408,
                "duration": 60.2,
            }
        ),
        "not json {",
    ]
    text = summarize(TEXT)
    assert (text.accepted, dict(text.closes), text.durations) == (1, {1006: 1}, [1.5])
    assert text.suppressed == 4
    assert sum(text.warnings.values()) == 1
    assert text.unparsed == 1
    as_json = summarize(json_lines)
    assert (as_json.accepted, dict(as_json.closes), as_json.durations) == (1, {4408: 1}, [60.2])
    report = render(text, "websocket.log")
    assert "1006      1  connection lost" in report
    assert "suppressed repeats: 4" in report


def test_1013_reads_as_try_again_later_whatever_the_reason() -> None:
    """A limit, a drain and a database outage all close with 1013: 'try again later'."""
    close = "2026-12-01T00:00:00Z INFO realtime.ws close conn=c1 code=1013"
    lines = [f'{close} reason="server shutting down"', f'{close} reason="database unavailable"']
    report = render(summarize(lines), "websocket.log")
    assert "1013      2  try again later" in report
    assert "connection limit" not in report


def test_closes_say_who_closed() -> None:
    """A 1011 a client sent is told apart from the server's own 1011."""
    accept = "2026-12-01T00:00:00Z INFO realtime.ws accept conn=c{}"
    close = "2026-12-01T00:00:00Z INFO realtime.ws close conn=c{} code=1011 by={}"
    lines = [accept.format(n) for n in range(3)]
    lines += [close.format(0, "client"), close.format(1, "client"), close.format(2, "server")]
    report = render(summarize(lines), "websocket.log")
    assert "1011      3  server error (client 2, server 1)" in report


def test_refusals_at_connect_are_counted_apart_from_closes() -> None:
    """A close line with no accept before it is a refusal, not a closed connection."""
    lines = [
        "2026-12-01T00:00:00Z INFO realtime.ws accept conn=a user=alice",
        "2026-12-01T00:00:01Z INFO realtime.ws close conn=a user=alice code=1000",
        "2026-12-01T00:00:01Z INFO realtime.ws close conn=b user=bob code=1013",
        "2026-12-01T00:00:02Z INFO realtime.ws close conn=c user=- code=4401",
        "2026-12-01T00:00:03Z INFO realtime.ws accept conn=d user=alice",
    ]
    summary = summarize(lines)
    assert (summary.accepted, dict(summary.closes)) == (2, {1000: 1})
    assert dict(summary.refused) == {1013: 1, 4401: 1}
    report = render(summary, "websocket.log")
    assert "2 accepted, 1 closed, 1 open at the end; 2 refused at connect" in report
