"""Streaming readers for CSV (UTF-8, UTF-8 with BOM, GB18030) and XLSX files.

Both yield lists of cell values one row at a time, so memory does not grow with the file.
"""

import codecs
import csv
import io
from collections.abc import Iterator
from pathlib import Path

XLSX_MAGIC = b"PK\x03\x04"
_SNIFF_BYTES = 1 << 20


class UnreadableFile(ValueError):
    pass


def detect_format(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head == XLSX_MAGIC:
        return "xlsx"
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        raise UnreadableFile("the file is named .xlsx but is not an Excel workbook")
    return "csv"


def detect_encoding(path: Path) -> str:
    """UTF-8 with BOM, UTF-8, or GB18030 (Chinese Excel's "CSV" export)."""
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
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


def count_data_rows(path: Path, file_format: str) -> int | None:
    """Rows after the header, for the progress bar (CSV: line count; quoted newlines may inflate it)."""
    if file_format == "xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True)
        try:
            ws = wb.worksheets[0]
            return max(0, (ws.max_row or 1) - 1)
        finally:
            wb.close()
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


def iter_xlsx(path: Path) -> Iterator[list]:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        for row in wb.worksheets[0].iter_rows(values_only=True):
            yield list(row)
    finally:
        wb.close()


def iter_rows(path: Path, file_format: str, encoding: str = "") -> Iterator[list]:
    if file_format == "xlsx":
        return iter_xlsx(path)
    return iter_csv(path, encoding or detect_encoding(path))
