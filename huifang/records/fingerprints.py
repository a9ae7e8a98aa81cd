"""Keyed fingerprints of clean records (the ``source_hash`` columns).

A record sent again unchanged is recognised by its fingerprint, without decrypting anything and
before any encryption. A fingerprint is an HMAC (under the blind-index key, HMAC-SHA256 or HMAC-SM3
in 国密 mode, with its own domain prefix) of the record's values joined in a fixed order, so it
reveals nothing about the PII in it and costs one MAC, not a JSON encoding.

Customers have two: ``customer_identity`` (the person: number, name, ID, birth date, sex, mobile,
address), computed the same way whether the customer came from the customer feed or embedded in a
policy, so the two feeds agree on whether a customer changed; and ``customer_contact`` (what only
the customer feed carries: servicing org unit, other phones, e-mail, contact preferences).

The MAC input is the ``repr`` of the tuple of values: computed in C, unambiguous (strings are
quoted and escaped, ``None``, ``True``, ``12``, ``Decimal('12.00')`` and ``datetime.date(2026, 2,
1)`` all differ) and stable for the types clean values have (str, int, bool, Decimal, date, time,
lists of str). Callers pass values as stored (amounts with two decimals), so that a fingerprint of
what was sent equals one recomputed from the database.
"""

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from huifang.core.crypto.keys import keyring

IDENTITY_FIELDS = ("customer_no", "name", "id_type", "id_number", "birth_date", "sex", "mobile", "address")
CONTACT_FIELDS = (
    "org_unit_id",
    "other_phones",
    "email",
    "contact_window_start",
    "contact_window_end",
    "do_not_call_reason",
    "do_not_call_until",
    "e_callback_declined",
)


def _mac():
    ring = keyring()
    template = ring.cache.get("records_fingerprint")
    if template is None:
        if ring.mode == "sm":
            template = crypto_hmac.HMAC(ring.index_key, hashes.SM3())
        else:
            template = hmac.new(ring.index_key, digestmod=hashlib.sha256)
        template.update(b"records-fingerprint\x00")
        ring.cache["records_fingerprint"] = template
    return template.copy()


def _hexdigest(mac) -> str:
    return mac.hexdigest() if hasattr(mac, "hexdigest") else mac.finalize().hex()


def fingerprint_parts(tag: str, values) -> str:
    """The fingerprint of ``values`` (an ordered sequence) under a record-type ``tag``."""
    mac = _mac()
    mac.update(repr((tag, *values)).encode("utf-8"))
    return _hexdigest(mac)


def customer_identity(record: dict) -> str:
    return fingerprint_parts("customer/1", [record.get(f) for f in IDENTITY_FIELDS])


def customer_contact(record: dict) -> str:
    return fingerprint_parts("customer-contact/1", [record.get(f) for f in CONTACT_FIELDS])
