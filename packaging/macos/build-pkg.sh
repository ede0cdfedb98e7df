#!/usr/bin/env bash
# Build lessonwatch-agent-<version>.pkg on a Mac (pkgbuild and productbuild are macOS tools;
# this cannot run on Linux). Usage: packaging/macos/build-pkg.sh [OUTDIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/dist}
PY=${PYTHON:-/Library/Frameworks/Python.framework/Versions/3.11/bin/python3}
PREFIX="/Library/Application Support/lessonwatch"
VERSION=$("$PY" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$ROOT/pyproject.toml")
STAGE=$(mktemp -d); SCRIPTS=$(mktemp -d)
trap 'rm -rf "$STAGE" "$SCRIPTS"' EXIT

# Exactly the packages of uv.lock with their hashes, then lessonwatch itself; the SBOM of what
# the venv holds goes next to the package (CYCLONEDX: cyclonedx-py, e.g. from ./dev's venv).
CYCLONEDX=${CYCLONEDX:-$(command -v cyclonedx-py || true)}
[ -n "$CYCLONEDX" ] || { echo "build-pkg.sh: cyclonedx-py is needed for the SBOM" >&2; exit 1; }
PYTHON="$PY" "$ROOT/packaging/locked-requirements.sh" agent "$SCRIPTS/requirements.txt"
"$PY" -m venv "$STAGE$PREFIX/venv"
"$STAGE$PREFIX/venv/bin/python" -m pip install --quiet --no-cache-dir --require-hashes -r "$SCRIPTS/requirements.txt"
"$STAGE$PREFIX/venv/bin/python" -m pip install --quiet --no-cache-dir --no-deps "$ROOT"
rm "$SCRIPTS/requirements.txt"
mkdir -p "$OUT"
"$CYCLONEDX" environment --output-reproducible --of JSON --pyproject "$ROOT/pyproject.toml" \
  -o "$OUT/lessonwatch-agent-$VERSION.cdx.json" "$STAGE$PREFIX/venv/bin/python"
grep -rlI --null "$STAGE" "$STAGE$PREFIX/venv" | xargs -0 sed -i '' "s|$STAGE||g"
install -d "$STAGE/Library/LaunchDaemons"
install -m 0644 "$ROOT/packaging/macos/nl.lessonwatch.agent.plist" "$STAGE/Library/LaunchDaemons/"
# Paired mode: the browser extension's native messaging host, for Chrome, Chromium and Edge.
install -m 0755 "$ROOT/packaging/macos/native-host" "$STAGE$PREFIX/native-host"
for folder in "Google/Chrome" "Application Support/Chromium" "Microsoft/Edge"; do
  install -d "$STAGE/Library/$folder/NativeMessagingHosts"
  install -m 0644 "$ROOT/packaging/macos/nl.lessonwatch.agent.json" "$STAGE/Library/$folder/NativeMessagingHosts/"
done
install -d "$STAGE/Library/LaunchAgents"
install -m 0644 "$ROOT/packaging/macos/nl.lessonwatch.helper.plist" "$STAGE/Library/LaunchAgents/"

cat > "$SCRIPTS/postinstall" <<'POST'
#!/bin/sh
# Service account, private state, enrolment from the MDM-delivered file, then load the daemon.
set -e
PREFIX="/Library/Application Support/lessonwatch"
if ! dscl . -read /Users/_lessonwatch >/dev/null 2>&1; then
  sysadminctl -addUser _lessonwatch -fullName "lessonwatch agent" -roleAccount -UID 492 -shell /usr/bin/false
fi
install -d -m 0700 -o _lessonwatch "$PREFIX/state"
install -d -m 0755 -o _lessonwatch /Library/Logs/lessonwatch  # the agent writes and rotates its log
# The helper channel: the daemon creates its socket here; only _lessonwatch may write the folder.
install -d -m 0755 -o _lessonwatch "$PREFIX/run"
# The daemon's bytecode cache (PYTHONPYCACHEPREFIX in its plist): the standard library and the
# venv compiled -OO and without column tables, root's, so the daemon reads but never changes it.
# Compiled again at every install; a module whose source changed since (a Python update) is
# compiled in memory at each start until then.
stdlib=$("$PREFIX/venv/bin/python3" -c 'import sysconfig; print(sysconfig.get_path("stdlib"))' || true)
rm -rf "$PREFIX/pycache"
# A failed compile costs memory (those modules are compiled at each start), never the install.
"$PREFIX/venv/bin/python3" -OO -X no_debug_ranges -X pycache_prefix="$PREFIX/pycache" \
  -m compileall -q -j 0 -x '/tests?/' "$stdlib" "$PREFIX/venv/lib" >/dev/null || true
# The daemon enrols itself on first start from "$PREFIX/enroll.conf" (run --enroll-file),
# which the MDM drops (root:_lessonwatch 0640).
launchctl bootstrap system /Library/LaunchDaemons/nl.lessonwatch.agent.plist || true
# The helper starts at every login; for the user signed in now, start it at once.
console=$(stat -f %u /dev/console)
if [ "$console" != 0 ]; then
  launchctl bootstrap "gui/$console" /Library/LaunchAgents/nl.lessonwatch.helper.plist || true
fi
POST
chmod +x "$SCRIPTS/postinstall"
mkdir -p "$OUT"
pkgbuild --root "$STAGE" --scripts "$SCRIPTS" --identifier nl.lessonwatch.agent \
  --version "$VERSION" --install-location / "$OUT/lessonwatch-agent-$VERSION.pkg"
