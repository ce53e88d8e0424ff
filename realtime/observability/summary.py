"""`realtime logs summary [PATH]`: what happened to connections, from a text
or JSON `websocket.log` (docs/operations.md); parsing is free of I/O."""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from realtime.codes import DESCRIPTIONS

TEXT_LINE = re.compile(r"^(\S+) (DEBUG|INFO|WARNING|ERROR|CRITICAL) (\S+) (.*)$")
FIELD = re.compile(r' (\w+)=("(?:[^"\\]|\\.)*"|\S+)')
SUPPRESSED = re.compile(r"\(suppressed (\d+) repeats\)")


@dataclass
class Entry:
    ts: str
    level: str
    logger: str
    event: str
    fields: dict[str, str]


@dataclass
class Summary:
    lines: int = 0
    unparsed: int = 0
    first: str = ""
    last: str = ""
    entries: int = 0
    accepted: int = 0
    accepted_ids: set[str] = field(default_factory=set)
    # Closes of connections accepted in this file, by code, and refusals at connect.
    refused: Counter[int] = field(default_factory=Counter)
    closes: Counter[int] = field(default_factory=Counter)
    closed_by: Counter[tuple[int, str]] = field(default_factory=Counter)
    durations: list[float] = field(default_factory=list)
    warnings: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    suppressed: int = 0


def parse(line: str) -> Entry | None:
    """One log line in either format, or None for continuation lines (tracebacks)."""
    line = line.rstrip("\n")
    if line.startswith("{"):
        try:
            data = json.loads(line)
        except ValueError:
            return None
        if not isinstance(data, dict) or "event" not in data:
            return None
        core = {"ts", "level", "logger", "event", "traceback"}
        extra = {k: str(v) for k, v in data.items() if k not in core}
        return Entry(
            str(data.get("ts", "")),
            str(data.get("level", "")),
            str(data.get("logger", "")),
            str(data["event"]),
            extra,
        )
    match = TEXT_LINE.match(line)
    if match is None:
        return None
    ts, level, logger, rest = match.groups()
    first_field = FIELD.search(" " + rest)
    event = rest if first_field is None else (" " + rest)[: first_field.start()].strip()
    fields = {k: v[1:-1] if v.startswith('"') else v for k, v in FIELD.findall(" " + rest)}
    return Entry(ts, level, logger, event, fields)


def summarize(lines: Iterable[str]) -> Summary:
    summary = Summary()
    for line in lines:
        summary.lines += 1
        entry = parse(line)
        if entry is None:
            summary.unparsed += 1
            continue
        summary.entries += 1
        summary.first = summary.first or entry.ts
        summary.last = entry.ts
        if entry.event == "accept":
            summary.accepted += 1
            summary.accepted_ids.add(entry.fields.get("conn", ""))
        elif entry.event == "close" and entry.fields.get("code", "").isdigit():
            if entry.fields.get("conn", "") not in summary.accepted_ids:
                summary.refused[int(entry.fields["code"])] += 1
                continue
            summary.accepted_ids.discard(entry.fields.get("conn", ""))
            summary.closes[int(entry.fields["code"])] += 1
            summary.closed_by[(int(entry.fields["code"]), entry.fields.get("by", "-"))] += 1
            with contextlib.suppress(ValueError):
                summary.durations.append(float(entry.fields.get("duration", "")))
        if entry.level == "WARNING":
            summary.warnings[SUPPRESSED.sub("", entry.event).strip()] += 1
        elif entry.level in ("ERROR", "CRITICAL"):
            summary.errors[entry.event] += 1
        repeats = SUPPRESSED.search(entry.event)
        if repeats:
            summary.suppressed += int(repeats.group(1))
    return summary


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (`share` in 0..1); NaN for no values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else math.nan


def render(summary: Summary, name: str) -> str:
    out = [f"{name}: {summary.lines} lines, {summary.first or '-'} to {summary.last or '-'}"]
    closed = sum(summary.closes.values())
    refused = sum(summary.refused.values())
    out.append(
        f"connections: {summary.accepted} accepted, {closed} closed, "
        f"{summary.accepted - closed} open at the end; {refused} refused at connect"
    )
    if summary.refused:
        out += ["", "refused     count  meaning"]
        for code, count in sorted(summary.refused.items()):
            out.append(f"{code:>10}  {count:>5}  {DESCRIPTIONS.get(code, 'other')}")
    if summary.closes:
        out += ["", "close code  count  meaning (closed by)"]
        for code, count in sorted(summary.closes.items()):
            by = ", ".join(
                f"{who} {n}" for (c, who), n in sorted(summary.closed_by.items()) if c == code
            )
            out.append(f"{code:>10}  {count:>5}  {DESCRIPTIONS.get(code, 'other')} ({by})")
    if summary.durations:
        d = summary.durations
        out += [
            "",
            f"durations (s): p50 {percentile(d, 0.5):g}, p90 {percentile(d, 0.9):g}, "
            f"p99 {percentile(d, 0.99):g}, max {max(d):g}",
        ]
    out += ["", f"warnings: {sum(summary.warnings.values())}"]
    out += [f"  {count:>5}  {event}" for event, count in summary.warnings.most_common(10)]
    out.append(f"errors: {sum(summary.errors.values())}")
    out += [f"  {count:>5}  {event}" for event, count in summary.errors.most_common(10)]
    out.append(f"suppressed repeats: {summary.suppressed}")
    return "\n".join(out)
