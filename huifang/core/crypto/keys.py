"""The keyring: data keys by key id, the active key, and the blind-index key.

Configuration (see README.md "Configuration"):

``HUIFANG_KEYS``
    ``"kid:base64key,kid2:base64key"``. Data keys are 32 random bytes (``huifang crypto keygen``).
    A key id (``kid``) is 1–32 characters of ``A-Z a-z 0-9 _ . -``; it is written into every
    token, so a key must never be removed while tokens under it remain (``huifang crypto rekey``
    moves them to the active key first).
``HUIFANG_ACTIVE_KEY``
    The key id that encrypts new values. May be omitted when exactly one key is configured.
``HUIFANG_INDEX_KEY``
    Base64 of at least 32 random bytes: the HMAC key of the blind index
    (:mod:`huifang.core.crypto.blind_index`). It must never rotate without re-indexing every
    blind-index column, and it must differ from every data key (key separation).
``HUIFANG_CRYPTO``
    ``aes`` (default): new tokens are AES-256-GCM, the active key must be 32 bytes.
    ``sm`` (国密): new tokens are SM4-GCM. SM4 takes a 128-bit key: a 32-byte data key is reduced
    to 16 bytes with HKDF-SM3 (no salt, info ``b"huifang sm4-gcm data key v1"``), so the same
    ``HUIFANG_KEYS`` line serves both modes; a 16-byte key (e.g. issued by a 国密 KMS) is used as
    is, and only for SM4. Tokens name their algorithm, so both kinds decrypt in either mode.

In production (``settings.PRODUCTION``) all of this must come from the environment, and a missing
or malformed value raises ``ImproperlyConfigured``. Elsewhere, when none of the three variables is
set, a local key file (``settings.HUIFANG_KEY_FILE``, JSON, mode 600) is generated once and reused,
with a warning in the log: such keys protect nothing that matters and must never reach production.

RULES.md PV-10: personal information is encrypted at rest; this module only ever holds keys in
memory and never logs them (fingerprints only).
"""

import base64
import binascii
import hashlib
import json
import logging
import os
import re
import secrets
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import timezone

logger = logging.getLogger(__name__)

# HUIFANG_CRYPTO mode → algorithm name written into new tokens.
MODE_ALGORITHMS = {"aes": "a256gcm", "sm": "sm4gcm"}
ALGORITHMS = frozenset(MODE_ALGORITHMS.values())
DATA_KEY_BYTES = 32
SM4_KEY_BYTES = 16
INDEX_KEY_MIN_BYTES = 32
KID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
SM4_HKDF_INFO = b"huifang sm4-gcm data key v1"
KEY_FILE_VERSION = 1

# Settings whose change (e.g. pytest-django's ``settings`` fixture) invalidates the cached keyring.
_KEY_SETTINGS = frozenset(
    {
        "HUIFANG_CRYPTO",
        "HUIFANG_KEYS",
        "HUIFANG_ACTIVE_KEY",
        "HUIFANG_INDEX_KEY",
        "HUIFANG_KEY_FILE",
        "PRODUCTION",
    }
)


def fingerprint(key: bytes) -> str:
    """A short, non-secret check value to compare keys between hosts without showing them."""
    return hashlib.sha256(b"huifang key fingerprint\x00" + key).hexdigest()[:16]


@dataclass(eq=False)
class Keyring:
    """The keys of this process. Immutable once loaded; ``cache`` holds derived cipher objects."""

    mode: str  # "aes" | "sm"
    keys: dict[str, bytes]
    active_kid: str
    index_key: bytes
    source: str  # "environment" | "key file"
    key_file: Path | None = None
    # Derived objects (AEAD instances, SM4 keys, HMAC templates), filled by cipher.py/blind_index.py.
    cache: dict = field(default_factory=dict, repr=False)

    @property
    def algorithm(self) -> str:
        """The algorithm new tokens are written with."""
        return MODE_ALGORITHMS[self.mode]

    def key(self, kid: str) -> bytes | None:
        return self.keys.get(kid)

    def cipher_key(self, algorithm: str, kid: str) -> bytes | None:
        """The raw key ``algorithm`` uses for ``kid``; None when the kid is unknown or unusable."""
        key = self.keys.get(kid)
        if key is None:
            return None
        if algorithm == "a256gcm":
            return key if len(key) == DATA_KEY_BYTES else None
        if algorithm == "sm4gcm":
            if len(key) == SM4_KEY_BYTES:
                return key
            return HKDF(algorithm=hashes.SM3(), length=SM4_KEY_BYTES, salt=None, info=SM4_HKDF_INFO).derive(
                key
            )
        return None

    def describe(self) -> dict:
        """What ``huifang crypto status`` shows: ids, sizes and fingerprints, never key material."""
        return {
            "mode": self.mode,
            "algorithm": self.algorithm,
            "source": self.source,
            "key_file": str(self.key_file) if self.key_file else "",
            "active_key": self.active_kid,
            "keys": [
                {
                    "kid": kid,
                    "bytes": len(key),
                    "fingerprint": fingerprint(key),
                    "active": kid == self.active_kid,
                }
                for kid, key in sorted(self.keys.items())
            ],
            "index_key_fingerprint": fingerprint(self.index_key),
        }


# ---- parsing and validation ---------------------------------------------------------------------


def _b64decode(text: str, what: str) -> bytes:
    """Standard or URL-safe base64, padding optional. The value is never echoed in errors."""
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured(f"{what} is not valid base64.") from None


def parse_keys(spec: str) -> dict[str, bytes]:
    """Parse ``HUIFANG_KEYS`` ("kid:base64key,kid2:base64key")."""
    keys: dict[str, bytes] = {}
    lowered: set[str] = set()
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        kid, sep, b64 = item.partition(":")
        kid = kid.strip()
        if not sep or not KID_RE.match(kid):
            raise ImproperlyConfigured(
                "HUIFANG_KEYS must look like 'kid:base64key,kid2:base64key'; a key id is 1-32 characters "
                f"of A-Z a-z 0-9 _ . - (entry {len(keys) + 1} is malformed)."
            )
        # Key ids are matched with LIKE during re-keying, which is case-insensitive on SQLite.
        if kid.lower() in lowered:
            raise ImproperlyConfigured(f"HUIFANG_KEYS names key id {kid!r} twice (ids are case-insensitive).")
        key = _b64decode(b64, f"HUIFANG_KEYS key {kid!r}")
        if len(key) not in (DATA_KEY_BYTES, SM4_KEY_BYTES):
            raise ImproperlyConfigured(
                f"HUIFANG_KEYS key {kid!r} is {len(key)} bytes; data keys are 32 bytes "
                "(16 bytes is accepted for SM4 only). Generate one with `huifang crypto keygen`."
            )
        keys[kid] = key
        lowered.add(kid.lower())
    return keys


def validate(mode: str, keys: dict[str, bytes], active_kid: str, index_key: bytes, source: str) -> None:
    if mode not in MODE_ALGORITHMS:
        raise ImproperlyConfigured(f"HUIFANG_CRYPTO must be 'aes' or 'sm' (国密), not {mode!r}.")
    if not keys:
        raise ImproperlyConfigured(f"No data keys configured ({source}).")
    if active_kid not in keys:
        raise ImproperlyConfigured(
            f"HUIFANG_ACTIVE_KEY {active_kid!r} is not one of the configured key ids "
            f"({', '.join(sorted(keys))}) ({source})."
        )
    if mode == "aes" and len(keys[active_kid]) != DATA_KEY_BYTES:
        raise ImproperlyConfigured(
            f"The active key {active_kid!r} is {len(keys[active_kid])} bytes; AES-256-GCM needs 32 bytes."
        )
    if len(index_key) < INDEX_KEY_MIN_BYTES:
        raise ImproperlyConfigured(
            f"HUIFANG_INDEX_KEY must be at least {INDEX_KEY_MIN_BYTES} random bytes ({source}); "
            "generate one with `huifang crypto keygen --index`."
        )
    if any(secrets.compare_digest(index_key, key) for key in keys.values()):
        raise ImproperlyConfigured("HUIFANG_INDEX_KEY must differ from every data key.")


def _from_environment(mode: str) -> Keyring:
    keys = parse_keys(settings.HUIFANG_KEYS or "")
    active = (settings.HUIFANG_ACTIVE_KEY or "").strip()
    if not active and len(keys) == 1:
        active = next(iter(keys))
    index_b64 = (settings.HUIFANG_INDEX_KEY or "").strip()
    missing = [
        name
        for name, value in (
            ("HUIFANG_KEYS", keys),
            ("HUIFANG_ACTIVE_KEY", active),
            ("HUIFANG_INDEX_KEY", index_b64),
        )
        if not value
    ]
    if missing:
        raise ImproperlyConfigured(
            f"PII encryption keys are incomplete: set {', '.join(missing)} "
            "(see `huifang crypto keygen` and README.md 'Configuration')."
        )
    index_key = _b64decode(index_b64, "HUIFANG_INDEX_KEY")
    validate(mode, keys, active, index_key, "environment")
    return Keyring(mode=mode, keys=keys, active_kid=active, index_key=index_key, source="environment")


# ---- the local key file (never in production) ------------------------------------------------------


def new_kid(prefix: str = "k") -> str:
    return f"{prefix}{timezone.localdate():%Y%m%d}"


def new_data_key() -> bytes:
    return secrets.token_bytes(DATA_KEY_BYTES)


def new_index_key() -> bytes:
    return secrets.token_bytes(INDEX_KEY_MIN_BYTES)


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def _write_new_key_file(path: Path) -> bool:
    """Create the key file atomically with mode 600. False when another process created it first."""
    kid = new_kid("local-")
    content = {
        "version": KEY_FILE_VERSION,
        "note": "Local development keys generated by Huifang. Never use them in production: "
        "set HUIFANG_KEYS, HUIFANG_ACTIVE_KEY and HUIFANG_INDEX_KEY there instead.",
        "created_at": timezone.now().isoformat(),
        "keys": {kid: b64(new_data_key())},
        "active_key": kid,
        "index_key": b64(new_index_key()),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".keys-", dir=path.parent)  # mkstemp creates it with mode 600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(content, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)  # atomic; fails if the file exists, so concurrent starters agree
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(tmp)


_warned_files: set[str] = set()


def _from_key_file(mode: str, path: Path) -> Keyring:
    created = False
    if not path.exists():
        created = _write_new_key_file(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        keys = parse_keys(",".join(f"{kid}:{value}" for kid, value in data["keys"].items()))
        active = data["active_key"]
        index_key = _b64decode(data["index_key"], "the key file's index_key")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ImproperlyConfigured(f"The local key file {path} is unreadable or malformed: {exc}") from None
    validate(mode, keys, active, index_key, f"key file {path}")
    if str(path) not in _warned_files:
        _warned_files.add(str(path))
        logger.warning(
            "PII encryption uses the LOCAL KEY FILE %s (%s); it is for development and demos only. "
            "In production set HUIFANG_KEYS, HUIFANG_ACTIVE_KEY and HUIFANG_INDEX_KEY "
            "(`huifang crypto keygen`).",
            path,
            "generated now" if created else "generated earlier",
        )
        if path.stat().st_mode & 0o077:
            logger.warning("The local key file %s is readable by other users; chmod 600 it.", path)
    return Keyring(
        mode=mode, keys=keys, active_kid=active, index_key=index_key, source="key file", key_file=path
    )


# ---- the per-process keyring -----------------------------------------------------------------------


def load_keyring() -> Keyring:
    """Build a keyring from the settings (no caching; use :func:`keyring`)."""
    mode = (getattr(settings, "HUIFANG_CRYPTO", "aes") or "aes").strip().lower()
    if mode not in MODE_ALGORITHMS:
        raise ImproperlyConfigured(f"HUIFANG_CRYPTO must be 'aes' or 'sm' (国密), not {mode!r}.")
    env_given = any(
        (getattr(settings, name, "") or "").strip()
        for name in ("HUIFANG_KEYS", "HUIFANG_ACTIVE_KEY", "HUIFANG_INDEX_KEY")
    )
    if env_given:
        return _from_environment(mode)
    if getattr(settings, "PRODUCTION", False):
        raise ImproperlyConfigured(
            "PII encryption keys are not configured. In production set HUIFANG_KEYS, HUIFANG_ACTIVE_KEY "
            "and HUIFANG_INDEX_KEY in the environment (`huifang crypto keygen`); Huifang will not start "
            "without them."
        )
    return _from_key_file(mode, Path(settings.HUIFANG_KEY_FILE))


_keyring: Keyring | None = None
_lock = threading.Lock()


def keyring() -> Keyring:
    """The process-wide keyring, loaded on first use and cached."""
    global _keyring
    ring = _keyring
    if ring is None:
        with _lock:
            if _keyring is None:
                _keyring = load_keyring()
            ring = _keyring
    return ring


def keyring_reset() -> None:
    """Forget the cached keyring (tests, or after changing the key settings in-process)."""
    global _keyring
    with _lock:
        _keyring = None


@receiver(setting_changed)
def _reset_on_setting_change(sender, setting, **kwargs):
    if setting in _KEY_SETTINGS:
        keyring_reset()


@checks.register(checks.Tags.security)
def check_keys(app_configs=None, **kwargs):
    """Refuse to start (``check``, ``migrate``, ``serve``…) with missing or malformed keys."""
    try:
        load_keyring() if getattr(settings, "PRODUCTION", False) else keyring()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="huifang.crypto.E001")]
    return []
