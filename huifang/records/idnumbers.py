"""Chinese resident ID numbers (GB 11643-1999): checksum, birth date and sex."""

from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


class InvalidIdNumber(ValueError):
    pass


def resident_id_check_char(first17: str) -> str:
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def resident_id_parse(value: str) -> tuple[str, date, str]:
    """Validate an 18-character resident ID; return (normalised number, birth date, sex "M"/"F").

    Raises InvalidIdNumber with a specific reason (length, characters, birth date, checksum).
    """
    s = (value or "").strip().upper()
    if len(s) != 18:
        raise InvalidIdNumber(f"resident ID must have 18 characters, got {len(s)}")
    if not s[:17].isdigit() or not (s[17].isdigit() or s[17] == "X"):
        raise InvalidIdNumber("resident ID must be 17 digits followed by a digit or X")
    try:
        birth = date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        raise InvalidIdNumber(f"resident ID holds an impossible birth date {s[6:14]}") from None
    if resident_id_check_char(s[:17]) != s[17]:
        raise InvalidIdNumber("resident ID checksum does not match (GB 11643)")
    return s, birth, "M" if int(s[16]) % 2 else "F"


def resident_id_make(region: str, birth: date, sequence: int) -> str:
    """Build a valid resident ID (demo data and tests): 6-digit region, birth date, 3-digit sequence."""
    first17 = f"{region}{birth:%Y%m%d}{sequence % 1000:03d}"
    return first17 + resident_id_check_char(first17)
