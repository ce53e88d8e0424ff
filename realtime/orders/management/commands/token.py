from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from realtime.cli import add_token_arguments, ttl_problem
from realtime.orders.accounts import Refusal, token_for


class Command(BaseCommand):
    help = "Print an access token for USERNAME and nothing else."

    def add_arguments(self, parser: CommandParser) -> None:
        add_token_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        problem = ttl_problem(options["ttl"])
        if problem is not None:
            raise CommandError(problem)
        try:
            token, _ = token_for(
                options["username"],
                staff=options["staff"],
                create=options["create"],
                promote=options["promote"],
                ttl=options["ttl"],
            )
        except Refusal as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(token)
