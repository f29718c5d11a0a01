"""The service's secret key: from the settings, or a random key kept in ``<home>/secret.key`` (owner-only)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from features.errors import LoopbaanError
from features.settings import Settings

KEY_FILE = "secret.key"
ERR_BAD_KEY_FILE = "the key file {path} is unreadable or empty; remove it to create a new one (old tokens stop working)"


def service_key(settings: Settings) -> bytes:
    """The key that signs tokens and pseudonymises audit records (the same for `loopbaan token` and the service)."""
    if settings.secret is not None:
        return settings.secret.get_secret_value().encode()
    path = Path(settings.home) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{KEY_FILE}.{os.getpid()}.partial")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
        try:
            os.link(partial, path)  # never replaces a key another process created meanwhile
        except FileExistsError:
            pass
        finally:
            partial.unlink(missing_ok=True)
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError:
        raise LoopbaanError(ERR_BAD_KEY_FILE.format(path=path)) from None
    if not key:
        raise LoopbaanError(ERR_BAD_KEY_FILE.format(path=path))
    return key.encode()
