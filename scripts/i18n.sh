#!/bin/sh
# Refresh the Simplified Chinese catalogue from the code and templates, then compile it.
# Needs GNU gettext (msgfmt, xgettext). English needs no catalogue: the msgids are English.
# Run from anywhere; works on the repository root. The catalogue is huifang/locale (LOCALE_PATHS).
set -eu
cd "$(dirname "$0")/.."
HUIFANG="${HUIFANG:-.venv/bin/huifang}"
"$HUIFANG" makemessages -l zh_Hans --no-obsolete \
  --ignore=.venv --ignore=var --ignore=tests --ignore=bench --ignore=build --ignore=staticfiles \
  --ignore='huifang/static/*'
"$HUIFANG" compilemessages -l zh_Hans --ignore=.venv
