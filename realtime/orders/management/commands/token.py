from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from realtime.orders.accounts import token_for


class Command(BaseCommand):
    help = "Print an access token for USERNAME and nothing else."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--staff", action="store_true", help="make the user staff")
        parser.add_argument("--create", action="store_true", help="create the user if missing")
        parser.add_argument("--ttl", type=int, default=None, help="lifetime in seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            token = token_for(
                options["username"],
                staff=options["staff"],
                create=options["create"],
                ttl=options["ttl"],
            )
        except LookupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(token)
