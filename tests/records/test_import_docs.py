"""docs/import-columns.md is generated from the column specification and kept up to date."""

import importlib.util
import subprocess
import sys
from pathlib import Path

from huifang.records.schema import BUSINESS_KEYS, KINDS_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gen_import_docs.py"


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_import_docs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_document_matches_the_schema():
    generator = load_generator()
    text = (ROOT / "docs" / "import-columns.md").read_text(encoding="utf-8")
    assert text == generator.render(), "run scripts/gen_import_docs.py"


def test_every_kind_and_column_is_documented_with_its_chinese_header_and_values():
    text = load_generator().render()
    for kind, columns in KINDS_COLUMNS.items():
        assert f"`huifang import {kind} FILE` · business key: `{BUSINESS_KEYS[kind]}`" in text
        for col in columns:
            row = next(line for line in text.splitlines() if line.startswith(f"| `{col.name}` | {col.zh} |"))
            assert ("| yes |" in row) == col.required, row
    assert "`bank` (`银保`)" in text  # a coded column lists its code and aliases
    assert "`resident_id` (`居民身份证`, `身份证`)" in text


def test_the_check_mode_exits_cleanly_when_up_to_date():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
