"""The reusable app (label `realtime_events`): the event log every transport
resumes from, written in the caller's own transaction by `publish()`, and
delivered after commit (docs/integrate.md). It holds no order model."""
