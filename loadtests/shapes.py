"""Load shapes for the order scenarios, chosen with --shape (load this file
with the locustfile: `-f loadtests/locustfile.py,loadtests/shapes.py`):

- steady: ramp to --shape-users and hold for --shape-seconds;
- spike: a quarter of the users, then all of them for the middle fifth, then back;
- storm: steady users, and halfway through every connection drops at once and reconnects;
- mixed: steady users, watchers only (half on WebSockets, half on Server-Sent
  Events) and the writer: the two transports side by side, without slow readers or churn.
"""

from __future__ import annotations

from locust import LoadTestShape

# The locustfile's users both transports' watchers and the writer are.
MIXED = ("OrderWatcher", "OrderStreamWatcher", "OrderWriter")


class OrderLoadShape(LoadTestShape):
    def tick(self) -> tuple[int, float] | tuple[int, float, list[type]] | None:
        options = self.runner.environment.parsed_options if self.runner else None
        if options is None:
            return None
        peak, length = options.shape_users, options.shape_seconds
        elapsed = self.get_run_time()
        if elapsed >= length:
            return None
        if options.shape == "spike":
            in_spike = 0.4 * length <= elapsed < 0.6 * length
            return (peak if in_spike else max(2, peak // 4)), float(peak)
        if options.shape == "mixed" and self.runner is not None:
            mixed = [c for c in self.runner.user_classes if c.__name__ in MIXED]
            return peak, max(1.0, peak / 5), mixed
        return peak, max(1.0, peak / 5)
