"""Benchmarks (not tests): ``python -m bench`` runs them all, ``python -m bench import`` one.

Each benchmark prints its figures and writes them, with the machine and date, to BENCHMARKS.md.
Data generators live in ``bench/gen.py``; generated files go to ``bench/data/`` (gitignored).
"""
