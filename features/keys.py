"""The two keys of loopbaan, each from a setting or else a random key kept in a file under the home (owner-only).

- The **signing key** (``LOOPBAAN_SECRET``, else ``<home>/secret.key``) signs citizen and admin tokens. It may be
  rotated at any time: tokens signed with the old key stop working, nothing else changes.
- The **pseudonym key** (``LOOPBAAN_PSEUDONYM_KEY``, else ``<home>/pseudonym.key``) turns a citizen id into the
  keyed hash that the audit log and the consent store record instead of the id. Every recorded choice is found
  through it, so it is not rotated with the signing key; back it up with the consent store.

A home from before the two were separate recorded its pseudonyms with the signing key: there, the first use
creates ``pseudonym.key`` holding the signing key's value, so that no recorded choice is lost, and from then on
the signing key can rotate on its own (README, "Keys").
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from features.errors import LoopbaanError
from features.files import write_new
from features.settings import Settings

SIGNING_KEY_FILE = "secret.key"
PSEUDONYM_KEY_FILE = "pseudonym.key"
ERR_BAD_KEY_FILE = ("the key file {path} is unreadable or empty; restore it from a backup, or remove it to create a "
                    "new one ({consequence})")
_CONSEQUENCE = {SIGNING_KEY_FILE: "tokens signed with it stop working",
                PSEUDONYM_KEY_FILE: "every recorded AI choice and audit pseudonym becomes unreadable"}


def _stored(path: Path, *, initial: str | None = None) -> bytes:
    """The key in ``path``; created when missing (``initial``, else random) without ever replacing a key that another
    process created meanwhile."""
    if not path.exists():
        write_new(path, initial if initial is not None else secrets.token_urlsafe(32), durable=True, mode=0o600)
    consequence = _CONSEQUENCE.get(path.name, "what it protects becomes unreadable")
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError:
        raise LoopbaanError(ERR_BAD_KEY_FILE.format(path=path, consequence=consequence)) from None
    if not key:
        raise LoopbaanError(ERR_BAD_KEY_FILE.format(path=path, consequence=consequence))
    return key.encode()


def signing_key(settings: Settings) -> bytes:
    """The key that signs tokens (the same for `loopbaan token` and the service)."""
    if settings.secret is not None:
        return settings.secret.get_secret_value().encode()
    return _stored(Path(settings.home) / SIGNING_KEY_FILE)


def pseudonym_key(settings: Settings) -> bytes:
    """The key of the citizens' pseudonyms in the audit log and the consent store."""
    if settings.pseudonym_key is not None:
        return settings.pseudonym_key.get_secret_value().encode()
    path = Path(settings.home) / PSEUDONYM_KEY_FILE
    initial = None
    if not path.exists() and _has_legacy_records(settings):
        initial = signing_key(settings).decode()
    return _stored(path, initial=initial)


def _has_legacy_records(settings: Settings) -> bool:
    """Whether this home holds pseudonyms recorded before the pseudonym key existed (keyed with the signing key)."""
    return any(path.is_file() and path.stat().st_size > 0 for path in (settings.consent_log, settings.audit_log))


def key_id(key: bytes) -> str:
    """A short fingerprint that tells keys apart without revealing them."""
    return hashlib.sha256(b"loopbaan key id:" + key).hexdigest()[:12]


def pseudonym(citizen_id: int | None, *, key: bytes) -> str | None:
    """The citizen's keyed hash (HMAC-SHA256, truncated): the same citizen always maps to the same pseudonym, which
    nobody can reverse without the key."""
    if citizen_id is None:
        return None
    return hmac.digest(key, f"citizen:{int(citizen_id)}".encode(), "sha256").hex()[:24]
