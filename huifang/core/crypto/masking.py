"""Masking helpers: what every screen, API and audit event shows by default."""


def mask_phone(value) -> str:
    """13812341234 → 138****1234 (mainland mobile); other numbers keep the last 4 digits."""
    if not value:
        return ""
    s = str(value).strip()
    digits = "".join(ch for ch in s if ch.isdigit())
    if len(digits) == 11:
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) > 4:
        return "*" * (len(digits) - 4) + digits[-4:]
    return "*" * len(digits)


def mask_id_number(value) -> str:
    """110101199003071234 → 110101********1234; shorter documents keep 2 + last 2."""
    if not value:
        return ""
    s = str(value).strip()
    if len(s) == 18:
        return f"{s[:6]}********{s[-4:]}"
    if len(s) > 4:
        return s[:2] + "*" * (len(s) - 4) + s[-2:]
    return "*" * len(s)


def mask_name(value) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧***; Latin names keep the first letter of each word."""
    if not value:
        return ""
    s = str(value).strip()
    if s.isascii():
        return " ".join(w[0] + "*" * (len(w) - 1) for w in s.split())
    return s[0] + "*" * (len(s) - 1)


def mask_email(value) -> str:
    if not value or "@" not in str(value):
        return ""
    local, _, domain = str(value).partition("@")
    return f"{local[:1]}***@{domain}"


def mask_address(value) -> str:
    """Keep the first 6 characters (province/city), hide the rest."""
    if not value:
        return ""
    s = str(value).strip()
    return s[:6] + "****" if len(s) > 6 else s[:2] + "****"
