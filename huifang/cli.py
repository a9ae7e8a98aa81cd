"""The ``huifang`` console command: Django's management commands behind friendlier names.

``huifang serve``, ``huifang audit verify``, ``huifang token create --user NAME``,
``huifang calendar add 2026-02-13 15``, ``huifang import policies FILE``, ``huifang worker`` …
Any other Django management command works too (``huifang migrate``, ``huifang createsuperuser``).
"""

import os
import sys

# Names that read better on the command line than as Python module names.
ALIASES = {"import": "import_records"}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if len(argv) > 1 and argv[1] in ALIASES:
        argv[1] = ALIASES[argv[1]]
    argv[0] = "huifang"
    from django.core.management import execute_from_command_line

    execute_from_command_line(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
