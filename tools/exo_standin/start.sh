#!/usr/bin/env bash
# Start EXO's real API (exo.api.main.API) on 127.0.0.1 with the stand-in cluster.
#
#   tools/exo_standin/start.sh [--port 52415] [--model ID] [--token-delay S]
#
# Environment:
#   EXO_COMMIT   the EXO commit to run (default: the one docs/exo.md reports on)
#   EXO_GIT      an EXO git directory or URL to take it from
#                (default: https://github.com/exo-explore/exo.git, cloned once)
#   EXO_WORK     where the source, the venv and EXO's home go (default /tmp/exo-standin)
#   PYTHON       a Python 3.13 interpreter (EXO requires ==3.13.*; default python3.13)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
commit="${EXO_COMMIT:-b5375f8cee4368d09e1ce96a56b9f81fb0bc81aa}"
git_src="${EXO_GIT:-https://github.com/exo-explore/exo.git}"
work="${EXO_WORK:-/tmp/exo-standin}"
python="${PYTHON:-python3.13}"
src="$work/exo-$commit"

mkdir -p "$work"
if [ ! -d "$src/src/exo" ]; then
  if [ -d "$git_src" ]; then
    gitdir="$git_src"
  else
    gitdir="$work/exo.git"
    [ -d "$gitdir" ] || git clone --bare --filter=blob:none "$git_src" "$gitdir"
  fi
  mkdir -p "$src"
  git --git-dir="$gitdir" archive "$commit" | tar -x -C "$src"
  # The API serves the dashboard's build folder at /; a placeholder page stands
  # in for the web app (npm build), which no API route reads.
  mkdir -p "$src/dashboard/build"
  [ -f "$src/dashboard/build/index.html" ] || echo '<!doctype html><title>exo</title>' \
    >"$src/dashboard/build/index.html"
fi

venv="$work/venv"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q -r "$here/requirements.txt"
  # exo/__init__.py reads its own version from the installed metadata.
  "$venv/bin/pip" install -q --no-deps "$src"
fi

# exo_rs (EXO's Rust networking bindings) is imported by the API only for a type
# annotation; the stub in this folder stands in for it.
export PYTHONPATH="$src/src:$here/stub"
export HOME="$work/home"
mkdir -p "$HOME"
exec "$venv/bin/python" "$here/standin.py" "$@"
