"""Who may watch `order:<id>` when nothing else says (REALTIME_SUBJECT_VISIBLE):
staff may watch any subject, anyone else a subject whose newest event they
own."""

from __future__ import annotations

from realtime.auth.principal import Principal
from realtime.events.models import Event


def subject_visible(subject: int, principal: Principal) -> bool:
    if principal.staff:
        return True
    newest = Event.objects.filter(subject=subject).order_by("-seq").values("owner").first()
    return newest is not None and newest["owner"] == principal.user_id
