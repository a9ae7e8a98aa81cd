#!/usr/bin/env sh
# Prints the path of a Python interpreter Huifang can use (3.13 preferred, 3.12 accepted).
# Looks on PATH first, then in pyenv; exits 1 with a clear message if neither exists.
for v in 3.13 3.12; do
  if command -v "python$v" >/dev/null 2>&1 && "python$v" -c 'import sys' >/dev/null 2>&1; then
    command -v "python$v"; exit 0
  fi
done
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
  for v in 3.13 3.12; do
    for d in $(ls -d "$root"/versions/"$v"* 2>/dev/null | sort -rV); do
      if [ -x "$d/bin/python$v" ]; then echo "$d/bin/python$v"; exit 0; fi
    done
  done
fi
echo "Huifang needs Python 3.13 (or 3.12): install one (e.g. 'pyenv install 3.13') and run make again." >&2
exit 1
