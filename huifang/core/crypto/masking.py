"""Masking helpers: what every screen, API and audit event shows by default.

RULES.md PV-10 (de-identification, need-to-know): personal information is shown masked unless a
user with the reveal capability gives a reason (``huifang.core.crypto.services.pii_reveal``).
Every helper takes any value (``None``, numbers, strings with stray spaces) and returns a str;
an empty value masks to "".
"""

import re
import unicodedata

_WHITESPACE = re.compile(r"\s+")
# What a masked value of an unknown kind looks like: fixed, so it does not leak the length.
OPAQUE = "****"


def _clean(value) -> str:
    if value is None:
        return ""
    return unicodedata.normalize("NFKC", str(value)).strip()


def mask_phone(value) -> str:
    """13812341234 → 138****1234 (mainland mobile, also written +86 138 1234 1234); other
    numbers keep their last 4 digits (020-1234567 → ******4567); no digits at all → ****."""
    s = _clean(value)
    digits = "".join(ch for ch in s if ch.isdigit())
    # A country code in front of a mainland mobile: +86 / 0086 / 86.
    if len(digits) == 13 and digits.startswith("861"):
        digits = digits[2:]
    elif len(digits) == 15 and digits.startswith("00861"):
        digits = digits[4:]
    if len(digits) == 11:
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) > 4:
        return "*" * (len(digits) - 4) + digits[-4:]
    if digits:
        return "*" * len(digits)
    return OPAQUE if s else ""


def mask_id_number(value) -> str:
    """110101199003071234 → 110101********1234 (the birth date is hidden); a trailing check
    character x is shown as X. Other documents keep their first 2 and last 2 characters."""
    s = _WHITESPACE.sub("", _clean(value)).upper()
    if len(s) == 18:
        return f"{s[:6]}********{s[-4:]}"
    if len(s) > 4:
        return s[:2] + "*" * (len(s) - 4) + s[-2:]
    return "*" * len(s)


def mask_name(value) -> str:
    """张三 → 张*, 李小明 → 李**, 欧阳娜娜 → 欧***; a one-character value → *.
    Latin names keep the first letter of each word (John Smith → J*** S****)."""
    s = _WHITESPACE.sub(" ", _clean(value))
    if not s:
        return ""
    if s.isascii():
        return " ".join(w[0] + "*" * (len(w) - 1) for w in s.split())
    if len(s) == 1:
        return "*"
    return s[0] + "*" * (len(s) - 1)


def mask_email(value) -> str:
    """zhang.san@example.com → z***@example.com; a value that is not an address → ****."""
    s = _clean(value)
    if not s:
        return ""
    local, at, domain = s.rpartition("@")
    if not at or not local or not domain:
        return OPAQUE
    return f"{local[:1]}***@{domain}"


def mask_address(value) -> str:
    """Keep the first 6 characters (province/city), hide the rest; shorter values keep 2."""
    s = _clean(value)
    if not s:
        return ""
    return s[:6] + "****" if len(s) > 6 else s[:2] + "****"


def mask_text(value) -> str:
    """Any other personal value: fully hidden."""
    return OPAQUE if _clean(value) else ""


_MASKERS = {
    "phone": mask_phone,
    "mobile": mask_phone,
    "id_number": mask_id_number,
    "id": mask_id_number,
    "name": mask_name,
    "email": mask_email,
    "address": mask_address,
    "text": mask_text,
}
MASK_KINDS = tuple(_MASKERS)


def mask_for(field_kind: str, value) -> str:
    """Mask ``value`` as ``field_kind`` (phone, id_number, name, email, address; anything else is
    fully hidden). A list (e.g. a customer's phone numbers) masks each item, joined by ", "."""
    masker = _MASKERS.get((field_kind or "").lower(), mask_text)
    if isinstance(value, list | tuple):
        return ", ".join(m for m in (masker(item) for item in value) if m)
    if isinstance(value, dict):
        return OPAQUE if value else ""
    return masker(value)


def guess_kind(field_name: str) -> str:
    """The mask kind a field's name suggests (``mobile_phone`` → phone), "text" when unsure."""
    name = field_name.lower()
    if "phone" in name or "mobile" in name or name.endswith("_tel"):
        return "phone"
    if "id_number" in name or "id_no" in name or "idcard" in name or "id_card" in name:
        return "id_number"
    if "email" in name:
        return "email"
    if "address" in name or name.endswith("_addr"):
        return "address"
    if name.endswith("name"):
        return "name"
    return "text"
