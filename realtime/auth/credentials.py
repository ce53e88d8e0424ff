"""Ending every session of a user at once (docs/protocol.md, "Tokens and
revocation"): a sign-out everywhere, and a deactivation, which counts as one,
so a user made active again does not find their old tokens working."""

from __future__ import annotations

from typing import Any

from django.db.models import F


def sign_out_everywhere(user_id: int) -> None:
    """Every token and connection of the user ends: refused at once, closed
    with 4401 within AUTH_RECHECK_INTERVAL."""
    from realtime.events.models import Credential

    counted = Credential.objects.filter(user_id=user_id).update(signed_out=F("signed_out") + 1)
    if not counted:
        Credential.objects.get_or_create(user_id=user_id, defaults={"signed_out": 1})


def count_deactivation(sender: Any, instance: Any, **kwargs: Any) -> None:
    """pre_save of the user model: an active user saved inactive signs out."""
    if instance.pk is None or getattr(instance, "is_active", True):
        return
    was = sender.objects.filter(pk=instance.pk, is_active=True).exists()
    if was:
        sign_out_everywhere(int(instance.pk))
