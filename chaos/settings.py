"""The server's settings with the chaos channel layer wrapped around the real
one when `CHAOS_LAYER_DROP` is set: `DJANGO_SETTINGS_MODULE=chaos.settings`."""

from __future__ import annotations

import os

from realtime.settings import *  # noqa: F403
from realtime.settings import CHANNEL_LAYERS, env_number

CHAOS_LAYER_DROP = env_number("CHAOS_LAYER_DROP", 0.0)

if CHAOS_LAYER_DROP:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "chaos.layers.DroppingChannelLayer",
            "CONFIG": {
                "inner": CHANNEL_LAYERS["default"],
                "drop": CHAOS_LAYER_DROP,
                "seed": int(os.environ.get("CHAOS_SEED", "0")),
            },
        }
    }
