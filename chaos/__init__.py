"""Chaos harness: a Toxiproxy-compatible server, real processes, scenarios."""
