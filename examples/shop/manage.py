#!/usr/bin/env python
"""A host project of its own: a shop whose orders go new → paid → packed →
shipped, with session login, adding live updates (docs/integrate.md)."""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
