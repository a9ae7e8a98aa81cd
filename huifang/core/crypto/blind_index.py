"""Blind index: exact search over encrypted values without decrypting them.

``blind_index(value, kind)`` = HMAC(index key, kind || 0x00 || normalised value), hex, 64 characters;
HMAC-SHA256, or HMAC-SM3 in 国密 mode (``HUIFANG_CRYPTO=sm``). Store it in an indexed
``CharField(max_length=64)`` next to the encrypted field and filter on it:
``Customer.objects.filter(id_number_index=blind_index(typed, "id_number"))``.

The kind is part of the MAC input, so the same digits as a phone and as an ID number give
unrelated indexes. The index reveals equality only (who shares a number), never the value.

Operational rule: the index key (``HUIFANG_INDEX_KEY``) and the mode never change without
recomputing every blind-index column from the decrypted values, otherwise exact search silently
stops finding existing rows. Data keys rotate freely; the index key does not rotate with them.
"""

import hashlib
import hmac
import re
import unicodedata

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from huifang.core.crypto.keys import keyring

KINDS = ("id_number", "phone", "email", "name", "text")
_WHITESPACE = re.compile(r"\s+")
_NON_DIGITS = re.compile(r"[^0-9]+")


def _normalise_once(s: str, kind: str) -> str:
    s = unicodedata.normalize("NFKC", s)
    if kind == "id_number":
        return _WHITESPACE.sub("", s).upper()
    if kind == "phone":
        digits = _NON_DIGITS.sub("", s)
        if len(digits) == 15 and digits.startswith("0086"):
            digits = digits[4:]
        elif len(digits) == 13 and digits.startswith("86"):
            digits = digits[2:]
        return digits
    if kind == "email":
        return s.strip().lower()
    if kind == "name":
        return _WHITESPACE.sub("", s)
    if kind == "text":
        return s.strip()
    raise ValueError(f"unknown blind index kind {kind!r}; one of {', '.join(KINDS)}")


def normalise(value: str, kind: str) -> str:
    """The canonical form that is indexed, so that equal values typed differently still match.

    - ``id_number``: full-width characters folded (NFKC), all whitespace removed, upper case
      (the check character ``x`` of a resident ID becomes ``X``).
    - ``phone``: ASCII digits only; a ``+86`` / ``0086`` / ``86`` country code in front of an
      11-digit mobile number is dropped (13812341234, +86 138 1234 1234 and 86-138-1234-1234 match).
    - ``email``: trimmed, lower case. ``name``: NFKC, whitespace removed. ``text``: NFKC, trimmed.

    Applied until stable (removing a space can let NFKC compose what it separated), so
    ``normalise(normalise(v)) == normalise(v)``.
    """
    s = str(value)
    for _ in range(4):
        after = _normalise_once(s, kind)
        if after == s:
            break
        s = after
    return s


def _mac_template(ring):
    template = ring.cache.get("blind_index")
    if template is None:
        if ring.mode == "sm":
            template = crypto_hmac.HMAC(ring.index_key, hashes.SM3())
        else:
            template = hmac.new(ring.index_key, digestmod=hashlib.sha256)
        ring.cache["blind_index"] = template
    return template


def blind_index(value: str | None, kind: str) -> str:
    """64 hex characters identifying ``value`` of ``kind``; "" for an empty value (nothing to find)."""
    if value is None:
        normalise("", kind)  # still refuses an unknown kind
        return ""
    normalised = normalise(value, kind)
    if not normalised:
        return ""
    mac = _mac_template(keyring()).copy()  # the keyed state is computed once per process
    mac.update(kind.encode("ascii") + b"\x00" + normalised.encode("utf-8"))
    return mac.hexdigest() if hasattr(mac, "hexdigest") else mac.finalize().hex()
