#!/usr/bin/env bash
# Build lessonwatch-agent_<version>_<arch>.deb with standard Debian tools (dpkg-deb).
#
#   packaging/linux/build-deb.sh [OUTDIR]        (default OUTDIR: dist/)
#
# The agent goes into its own virtual environment under /opt/lessonwatch-agent, built here
# against the target's /usr/bin/python3 (Debian 12: 3.11) and relocated from the staging
# directory. Needs: python3 with venv, dpkg-deb, cyclonedx-py (the SBOM), and network access to
# the package index; uv (optional; the pinned one is fetched to read uv.lock) makes it take seconds.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/dist}
PY=${PYTHON:-/usr/bin/python3}
PREFIX=/opt/lessonwatch-agent
HERE="$ROOT/packaging/linux"

VERSION=$("$PY" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$ROOT/pyproject.toml")
PYMINOR=$("$PY" -c 'import sys; print(f"{sys.version_info.major}.{sys.version_info.minor}")')
ARCH=$(dpkg --print-architecture)
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT

# Exactly the packages of uv.lock with their hashes (packaging/locked-requirements.sh), then
# lessonwatch itself from the source tree (a regular, not editable, install; the wheel is built
# in isolation). The venv ships without pip: nothing on a pupil's laptop installs packages.
# The bill of materials (CycloneDX JSON) of what the venv holds goes next to the package.
CYCLONEDX=${CYCLONEDX:-$(command -v cyclonedx-py || true)}
if [ -z "$CYCLONEDX" ]; then
  echo "build-deb.sh: cyclonedx-py is needed for the SBOM (pip install cyclonedx-bom, or use ./dev's venv)" >&2
  exit 1
fi
PYTHON="$PY" "$ROOT/packaging/locked-requirements.sh" agent "$STAGE/requirements.txt"
UV=${UV:-$(command -v uv || true)}
if [ -n "$UV" ]; then
  "$PY" -m venv --without-pip "$STAGE$PREFIX/venv"
  "$UV" pip install --quiet --require-hashes --python "$STAGE$PREFIX/venv/bin/python" -r "$STAGE/requirements.txt"
  "$UV" pip install --quiet --no-deps --python "$STAGE$PREFIX/venv/bin/python" "$ROOT"
else
  "$PY" -m venv "$STAGE$PREFIX/venv"
  "$STAGE$PREFIX/venv/bin/python" -m pip install --quiet --no-cache-dir --require-hashes -r "$STAGE/requirements.txt"
  "$STAGE$PREFIX/venv/bin/python" -m pip install --quiet --no-cache-dir --no-deps "$ROOT"
  "$STAGE$PREFIX/venv/bin/python" -m pip uninstall --quiet --yes pip
fi
rm "$STAGE/requirements.txt"
mkdir -p "$OUT"
SBOM="$OUT/lessonwatch-agent_${VERSION}_${ARCH}.cdx.json"
"$CYCLONEDX" environment --output-reproducible --of JSON --pyproject "$ROOT/pyproject.toml" \
  -o "$SBOM" "$STAGE$PREFIX/venv/bin/python"
find "$STAGE$PREFIX/venv" -name __pycache__ -type d -prune -exec rm -rf {} +
# Relocate: scripts and pyvenv.cfg name the staging path; the package installs at $PREFIX.
grep -rlI --null "$STAGE" "$STAGE$PREFIX/venv" | xargs -0 -r sed -i "s|$STAGE||g"
# Ship the bytecode: the hardened service cannot write __pycache__ under /opt, so without it
# every start compiles the agent again (about 0.25 s of CPU and 0.4 MiB more; docs/performance.md).
# -s and -p put the installed path (not the staging one) in tracebacks; dpkg keeps the
# sources' mtimes, so the timestamp-checked .pyc files stay valid; as package files they go on
# removal.
"$PY" -m compileall -q -j 0 -s "$STAGE" -p / "$STAGE$PREFIX/venv/lib" >/dev/null

install -D -m 0644 "$HERE/lessonwatch-agent.service" "$STAGE/lib/systemd/system/lessonwatch-agent.service"
# The per-user helper: a systemd user unit enabled for every user by a package-owned link, and
# an XDG autostart entry (a conffile) for desktops without graphical-session.target.
install -D -m 0644 "$HERE/lessonwatch-agent-helper.service" "$STAGE/usr/lib/systemd/user/lessonwatch-agent-helper.service"
install -d -m 0755 "$STAGE/usr/lib/systemd/user/graphical-session.target.wants"
ln -s ../lessonwatch-agent-helper.service "$STAGE/usr/lib/systemd/user/graphical-session.target.wants/lessonwatch-agent-helper.service"
install -D -m 0644 "$HERE/lessonwatch-agent-helper.desktop" "$STAGE/etc/xdg/autostart/lessonwatch-agent-helper.desktop"
# Paired mode: the browser extension's native messaging host, registered for Chrome, Chromium
# and Edge (each reads its own folder; the manifest names the wrapper, which runs the agent).
install -D -m 0755 "$HERE/native-host" "$STAGE$PREFIX/native-host"
for folder in etc/opt/chrome etc/chromium etc/opt/edge; do
  install -D -m 0644 "$HERE/nl.lessonwatch.agent.json" "$STAGE/$folder/native-messaging-hosts/nl.lessonwatch.agent.json"
done
install -D -m 0644 "$HERE/enroll.conf.example" "$STAGE/usr/share/doc/lessonwatch-agent/enroll.conf.example"
install -D -m 0644 "$ROOT/docs/agent.md" "$STAGE/usr/share/doc/lessonwatch-agent/agent.md"
install -d -m 0755 "$STAGE/usr/bin"
ln -s "$PREFIX/venv/bin/lessonwatch-agent" "$STAGE/usr/bin/lessonwatch-agent"

install -d -m 0755 "$STAGE/DEBIAN"
for script in postinst prerm postrm; do
  install -m 0755 "$HERE/debian/$script" "$STAGE/DEBIAN/$script"
done
echo /etc/xdg/autostart/lessonwatch-agent-helper.desktop > "$STAGE/DEBIAN/conffiles"
# postinst compiles the service's bytecode cache again whenever the standard library changes.
echo "interest-noawait /usr/lib/python$PYMINOR" > "$STAGE/DEBIAN/triggers"
SIZE=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$SIZE/" \
    -e "s/@PYMINOR@/$PYMINOR/g" -e "s/@PYNEXT@/${PYMINOR%.*}.$(( ${PYMINOR#*.} + 1 ))/" \
    "$HERE/debian/control.in" > "$STAGE/DEBIAN/control"

DEB="$OUT/lessonwatch-agent_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group --build "$STAGE" "$DEB" >/dev/null
echo "$DEB"
