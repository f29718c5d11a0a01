"""The token-signing key under the name the CLI's demo command imports (``loopbaan_cli/main.py``); the keys
themselves are defined in :mod:`features.keys`."""

from __future__ import annotations

from features.keys import signing_key as service_key

__all__ = ["service_key"]
