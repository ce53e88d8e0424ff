"""daphne, adapted to the project's needs (docs/architecture.md).

Importing this package imports `daphne.server` first, which installs the
asyncio reactor Twisted must have before anything else imports it. Every
private name of daphne, autobahn and Twisted the package touches is read or
written in `internals`, each with a canary test.
"""

from __future__ import annotations

import daphne.server  # noqa: F401
