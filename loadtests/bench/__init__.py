"""Benchmarks of the order server against a minimal raw `websockets` server,
measured in the same run on the same machine (see docs/benchmarks.md)."""
