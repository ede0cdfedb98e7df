#!/usr/bin/env bash
# The packages of uv.lock for the given extras, with their hashes, as a requirements file that
# `pip install --require-hashes` or `uv pip install --require-hashes` installs exactly.
#
#   packaging/locked-requirements.sh EXTRAS OUTFILE   (EXTRAS: agent, service or dev, comma-separated;
#                                                     or sbom: only the SBOM tool, for the builds)
#   packaging/locked-requirements.sh --uv-version     the uv version pyproject.toml requires
#
# Every install of lessonwatch goes through this (./dev, CI, the .deb, the macOS package, the
# Docker image), so two builds from the same commit carry the same packages and versions. uv
# is needed only here; the version is the one pyproject.toml requires ([tool.uv]), installed
# next to the build's Python when the machine has none (UV=/path/to/uv chooses one).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}

UV_VERSION=$("$PY" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["tool"]["uv"]["required-version"].lstrip("="))' "$ROOT/pyproject.toml")
if [ "${1:-}" = --uv-version ]; then echo "$UV_VERSION"; exit 0; fi
EXTRAS=${1:?extras}
OUT=${2:?output file}
is_pinned_uv() { [ -n "$1" ] && "$1" --version 2>/dev/null | grep -q "^uv $UV_VERSION\( \|$\)"; }
UV=${UV:-$(command -v uv || true)}
if ! is_pinned_uv "$UV"; then
  TOOLS=${LESSONWATCH_BUILD_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/lessonwatch-build-tools}
  UV="$TOOLS/bin/uv"
  if ! is_pinned_uv "$UV"; then
    "$PY" -m venv "$TOOLS" >&2
    "$TOOLS/bin/python" -m pip install --quiet "uv==$UV_VERSION" >&2
  fi
fi

args=()
if [ "$EXTRAS" = sbom ]; then
  args=(--only-group sbom)
else
  for extra in ${EXTRAS//,/ }; do args+=(--extra "$extra"); done
fi
(cd "$ROOT" && "$UV" export --quiet --frozen --no-emit-project --no-header "${args[@]}" -o "$OUT")
