"""Benchmark data: core-system CSV exports written from ``huifang.records.demo_data``.

Files are written row by row (the generator streams and keeps only small bounded pools), so a
million policies need no more memory than a thousand. Headers are the Chinese column names of
``huifang.records.schema``, values are formatted as a core system exports them (Chinese labels
for channels, payment modes, ID types, 是/否), UTF-8 without BOM.

One row in ``bad_every`` (default 1,000) is deliberately broken in one of five ways a real feed
gets wrong, so the benchmark exercises quarantine as well; the file's ``.meta.json`` says how
many. Files are cached in ``bench/data/`` (gitignored) by rows, seed and generator version.
"""

import csv
import itertools
import json
import os
from datetime import date
from decimal import Decimal
from pathlib import Path

from huifang.records import demo_data, schema

DATA_DIR = Path(__file__).resolve().parent / "data"
# Fixed, so that the same command writes byte-identical files on any day.
BENCH_ANCHOR = date(2026, 11, 1)
BENCH_SEED = 2026
GENERATOR_VERSION = 2  # bump when the generated rows change, to invalidate cached files


def _labels(mapping: dict[str, str]) -> dict[str, str]:
    """code → the first (Chinese) label of a schema choice mapping."""
    out: dict[str, str] = {}
    for label, code in mapping.items():
        out.setdefault(code, label)
    return out


# Columns whose codes are written as the Chinese labels a core system exports.
_CHOICE_LABELS = {
    "channel": _labels(schema.CHANNELS),
    "payment_mode": _labels(schema.PAYMENT_MODES),
    "payment_frequency": _labels(schema.FREQUENCIES),
    "status": _labels(schema.POLICY_STATUSES) | _labels(schema.SALES_STATUSES),
    "line": _labels(schema.LINES),
    "kind": _labels(schema.KINDS),
    "term_type": _labels(schema.TERM_TYPES),
}
for _prefix in ("applicant_", "insured_"):
    _CHOICE_LABELS[f"{_prefix}id_type"] = _labels(schema.ID_TYPES)
    _CHOICE_LABELS[f"{_prefix}sex"] = {"M": "男", "F": "女", "U": "未知"}


def csv_cell(name: str, value) -> str:
    """One clean value as the text a core-system export holds."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    labels = _CHOICE_LABELS.get(name)
    if labels is not None:
        return labels.get(value, value)
    return str(value)


# Five ways a row goes wrong in a real feed; each must be quarantined with its reason.
def _break_checksum(cells, col):
    # A group policy's applicant is an employer (no resident ID): break the insured's then.
    who = "applicant_" if cells[col["applicant_id_type"]] == "身份证" else "insured_"
    number = cells[col[f"{who}id_number"]]
    cells[col[f"{who}id_number"]] = number[:17] + ("0" if number[17] != "0" else "1")


def _break_product(cells, col):
    cells[col["product_code"]] = "HA-XX99"


def _break_date(cells, col):
    cells[col["application_date"]] = "2026-02-30"


def _break_name(cells, col):
    cells[col["applicant_name"]] = ""


def _break_mobile(cells, col):
    cells[col["applicant_mobile"]] = "1381234"


BREAKERS = (_break_checksum, _break_product, _break_date, _break_name, _break_mobile)


def _write_atomically(path: Path, write) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        meta = write(csv.writer(fh))
    os.replace(tmp, path)
    meta["bytes"] = path.stat().st_size
    return meta


def write_policies_csv(
    path: Path,
    rows: int,
    *,
    seed: int = BENCH_SEED,
    anchor: date = BENCH_ANCHOR,
    bad_every: int = 1000,
) -> dict:
    """Write ``rows`` policies (with their applicant and insured) to ``path``; return the meta."""
    columns = schema.POLICY_COLUMNS
    names = [c.name for c in columns]
    col = {name: i for i, name in enumerate(names)}
    generator = demo_data.PolicyGenerator(seed, anchor)

    def write(out) -> dict:
        out.writerow([c.zh for c in columns])
        bad = 0
        for i, generated in enumerate(itertools.islice(generator, rows)):
            values = generated.values
            cells = [csv_cell(name, values.get(name)) for name in names]
            if bad_every and i % bad_every == bad_every - 1:
                BREAKERS[bad % len(BREAKERS)](cells, col)
                bad += 1
            out.writerow(cells)
        return {"kind": "policies", "rows": rows, "bad_rows": bad, "seed": seed, "anchor": str(anchor)}

    return _write_atomically(Path(path), write)


def write_products_csv(path: Path) -> dict:
    columns = schema.PRODUCT_COLUMNS

    def write(out) -> dict:
        out.writerow([c.zh for c in columns])
        rows = demo_data.product_rows()
        for values in rows:
            out.writerow([csv_cell(c.name, values.get(c.name)) for c in columns])
        return {"kind": "products", "rows": len(rows), "bad_rows": 0}

    return _write_atomically(Path(path), write)


def write_salespeople_csv(path: Path, *, seed: int = BENCH_SEED, anchor: date = BENCH_ANCHOR) -> dict:
    columns = schema.SALESPERSON_COLUMNS

    def write(out) -> dict:
        out.writerow([c.zh for c in columns])
        rows = demo_data.salesperson_rows(seed, anchor)
        for values in rows:
            out.writerow([csv_cell(c.name, values.get(c.name)) for c in columns])
        return {"kind": "salespeople", "rows": len(rows), "bad_rows": 0}

    return _write_atomically(Path(path), write)


def policies_csv(
    rows: int, *, seed: int = BENCH_SEED, data_dir: Path = DATA_DIR, bad_every: int = 1000, log=print
) -> tuple[Path, dict]:
    """The cached policies file for ``rows`` and ``seed`` (written when missing or stale)."""
    path = Path(data_dir) / f"policies-{rows}-seed{seed}.csv"
    meta_path = path.with_name(path.name + ".meta.json")
    wanted = {"rows": rows, "seed": seed, "bad_every": bad_every, "version": GENERATOR_VERSION}
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if all(meta.get(k) == v for k, v in wanted.items()) and meta.get("bytes") == path.stat().st_size:
            return path, meta
    log(f"writing {rows:,} policies to {path.name} …")
    meta = write_policies_csv(path, rows, seed=seed, bad_every=bad_every) | wanted
    meta_path.write_text(json.dumps(meta, indent=2))
    return path, meta


def reference_csvs(*, seed: int = BENCH_SEED, data_dir: Path = DATA_DIR) -> dict[str, Path]:
    """Products and salespeople files (small; always rewritten)."""
    data_dir = Path(data_dir)
    paths = {"products": data_dir / "products.csv", "salespeople": data_dir / f"salespeople-seed{seed}.csv"}
    write_products_csv(paths["products"])
    write_salespeople_csv(paths["salespeople"], seed=seed)
    return paths
