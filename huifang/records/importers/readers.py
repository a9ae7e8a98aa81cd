"""Streaming readers for CSV (UTF-8, UTF-8 with BOM, GB18030) and XLSX files.

Both yield lists of cell values one row at a time, so memory does not grow with the file. Every
way a file can be unreadable (not text, not a workbook, an old .xls, NUL bytes, an encoding that
changes part-way) is raised as ``UnreadableFile`` with a message for the person who uploaded it.
"""

import codecs
import contextlib
import csv
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from xml.etree.ElementTree import ParseError

XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the old binary Excel format (.xls), also old Word/WPS files
_SNIFF_BYTES = 1 << 20
_XLSX_SUFFIXES = (".xlsx", ".xlsm")


class UnreadableFile(ValueError):
    """The file as a whole cannot be read; the message says why (shown to the user)."""


def detect_format(path: Path, name: str | None = None) -> str:
    """``xlsx`` or ``csv``, from the first bytes (and the file name, ``name`` or the path's)."""
    suffix = Path(name or path.name).suffix.lower()
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head:
        raise UnreadableFile("the file is empty")
    if head.startswith(XLSX_MAGIC):
        return "xlsx"
    if head.startswith(OLE_MAGIC):
        raise UnreadableFile(
            "the file is in the old Excel format (.xls); save it as .xlsx or CSV and upload it again"
        )
    if suffix in _XLSX_SUFFIXES:
        raise UnreadableFile("the file is named .xlsx but is not an Excel workbook")
    return "csv"


def detect_encoding(path: Path) -> str:
    """UTF-8 with BOM, UTF-8, or GB18030 (Chinese Excel's "CSV" export)."""
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if b"\x00" in head:
        raise UnreadableFile("the file is not a text (CSV) file: it contains NUL bytes")
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=False)  # a multi-byte character cut at the end is fine
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        codecs.getincrementaldecoder("gb18030")().decode(head, final=False)
        return "gb18030"
    except UnicodeDecodeError:
        raise UnreadableFile("the file is neither UTF-8 nor GB18030 text") from None


@contextlib.contextmanager
def _open_workbook(path: Path):
    """The workbook, read-only, whatever the file is named (openpyxl judges by the name)."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    with open(path, "rb") as fh:
        try:
            wb = load_workbook(fh, read_only=True, data_only=True)
        except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
            # KeyError: a zip without a workbook part; the others: not a zip, or a damaged one.
            raise UnreadableFile(
                f"the file is not a readable Excel workbook ({type(exc).__name__})"
            ) from None
        try:
            if not wb.worksheets:
                raise UnreadableFile("the workbook has no worksheet")
            yield wb
        finally:
            wb.close()


def count_data_rows(path: Path, file_format: str) -> int | None:
    """Rows after the header, for the progress bar (CSV: line count; quoted newlines may inflate it)."""
    if file_format == "xlsx":
        with _open_workbook(path) as wb:
            return max(0, (wb.worksheets[0].max_row or 1) - 1)
    lines = 0
    last = b"\n"
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        lines += 1
    return max(0, lines - 1)


def iter_csv(path: Path, encoding: str) -> Iterator[list]:
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding=encoding, newline="", errors="strict")
        try:
            yield from csv.reader(text)
        except UnicodeDecodeError as exc:
            raise UnreadableFile(f"the file changes encoding part-way through ({exc.reason})") from None
        except csv.Error as exc:
            raise UnreadableFile(f"the file is not valid CSV ({exc})") from None


def iter_xlsx(path: Path) -> Iterator[list]:
    with _open_workbook(path) as wb:
        try:
            for row in wb.worksheets[0].iter_rows(values_only=True):
                yield list(row)
        except (zipfile.BadZipFile, KeyError, EOFError, ParseError) as exc:
            raise UnreadableFile(f"the workbook is damaged ({type(exc).__name__})") from None


def iter_rows(path: Path, file_format: str, encoding: str = "") -> Iterator[list]:
    if file_format == "xlsx":
        return iter_xlsx(path)
    return iter_csv(path, encoding or detect_encoding(path))
