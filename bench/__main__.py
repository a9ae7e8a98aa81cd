"""``python -m bench [import|profile|gen] [options]``: run the benchmarks (all of them by default).

python -m bench                          # every benchmark with its defaults
python -m bench import --rows 1000000    # the policy import benchmark (see bench/import_policies.py)
python -m bench profile --rows 50000     # where an import spends its time (cProfile)
python -m bench gen --rows 1000000       # only write the CSV into bench/data/
python -m bench sweep                    # the callback sweep benchmark (see bench/callback_sweep.py)
python -m bench pages --keep             # board and task page server time, 1M policies (bench/pages.py)
"""

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setup_path() -> None:
    # The benchmark runs `huifang` child processes; it needs the project importable itself only
    # for the generators (pure Python) and psycopg.
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="benchmark")

    imp = sub.add_parser("import", help="policy import: pipeline vs COPY, memory, SQLite")
    imp.add_argument("--rows", type=int, default=1_000_000, help="rows of the large run (default 1,000,000)")
    imp.add_argument("--small-rows", type=int, default=100_000, help="rows of the memory comparison run")
    imp.add_argument("--sqlite-rows", type=int, default=100_000, help="rows of the SQLite run")
    imp.add_argument("--seed", type=int, default=2026)
    imp.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL runs")
    imp.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    imp.add_argument("--db-name", default="huifang_bench", help="PostgreSQL database to (re)create")
    imp.add_argument("--keep", action="store_true", help="keep the PostgreSQL database afterwards")
    imp.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    imp.add_argument(
        "--code",
        choices=("worktree", "head"),
        default="worktree",
        help="run the files as they are (default) or a snapshot of the last commit",
    )

    prof = sub.add_parser("profile", help="cProfile one policy import and summarise where time goes")
    prof.add_argument("--rows", type=int, default=50_000)
    prof.add_argument("--seed", type=int, default=2026)
    prof.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    prof.add_argument("--code", choices=("worktree", "head"), default="worktree")
    prof.add_argument("--db-name", default="huifang_bench_profile", help="PostgreSQL database to (re)create")

    gen_p = sub.add_parser("gen", help="only generate the policy CSV into bench/data/")
    gen_p.add_argument("--rows", type=int, default=1_000_000)
    gen_p.add_argument("--seed", type=int, default=2026)

    sweep_p = sub.add_parser("sweep", help="callback sweep: 1M policies, first and no-op sweep vs bare SQL")
    from bench import callback_sweep

    callback_sweep.add_arguments(sweep_p)

    pages_p = sub.add_parser("pages", help="board and task page: server time with 1M policies (PostgreSQL)")
    from bench import pages

    pages.add_arguments(pages_p)

    args = parser.parse_args(argv)
    _setup_path()
    from bench import gen, import_policies

    command = import_policies.command_line(argv)
    which = args.benchmark
    if args.benchmark in (None, "import"):
        if args.benchmark is None:  # all benchmarks, defaults
            args = imp.parse_args([])
        import_policies.run(
            rows=args.rows,
            small_rows=args.small_rows,
            sqlite_rows=args.sqlite_rows,
            seed=args.seed,
            postgres=not args.no_postgres,
            sqlite=not args.no_sqlite,
            db_name=args.db_name,
            keep=args.keep,
            write=not args.no_write,
            command=command,
            code=args.code,
        )
    elif args.benchmark == "profile":
        import_policies.profile(
            rows=args.rows,
            seed=args.seed,
            write=not args.no_write,
            code=args.code,
            command=command,
            db_name=args.db_name,
        )
    if which in (None, "sweep"):
        if which is None:  # all benchmarks, defaults
            args = sweep_p.parse_args([])
        if import_policies.is_postgres_url(os.environ.get("DATABASE_URL")):
            callback_sweep.run(
                policies=args.policies,
                db_name=args.db_name,
                keep=args.keep,
                reuse=args.reuse,
                write=not args.no_write,
                command=command,
            )
        else:
            print("DATABASE_URL does not point at PostgreSQL: skipping the callback sweep benchmark.")
    elif which == "gen":
        path, meta = gen.policies_csv(args.rows, seed=args.seed)
        print(
            f"{path}: {meta['rows']:,} rows ({meta['bad_rows']:,} deliberately bad), {meta['bytes']:,} bytes"
        )
    if which in (None, "pages"):
        if which is None:  # all benchmarks, defaults
            args = pages_p.parse_args([])
        if import_policies.is_postgres_url(os.environ.get("DATABASE_URL")):
            pages.run(
                policies=args.policies,
                requests=args.requests,
                db_name=args.db_name,
                keep=args.keep,
                write=not args.no_write,
                command=command,
            )
        else:
            print("DATABASE_URL does not point at PostgreSQL: skipping the page benchmark.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
