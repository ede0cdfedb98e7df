"""The agent's .deb: built with Debian's tools, installed with dpkg into a throwaway root, run
from there, and removed and purged leaving only what docs/deploy.md says stays."""

from __future__ import annotations

import json
import marshal
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.markers import Marker

REPO = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
PREFIX = "opt/lessonwatch-agent"
USER_UNIT = "usr/lib/systemd/user/lessonwatch-agent-helper.service"
USER_WANTS = "usr/lib/systemd/user/graphical-session.target.wants/lessonwatch-agent-helper.service"
AUTOSTART = "etc/xdg/autostart/lessonwatch-agent-helper.desktop"
CACHE = "var/cache/lessonwatch-agent/pycache"
HOST_MANIFEST = "native-messaging-hosts/nl.lessonwatch.agent.json"
ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}

# One worker builds the package once: two builds at once would share the tree's build/ folder.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("deb")]


def _needs_root() -> None:
    if os.geteuid() != 0 and os.environ.get("CI") != "true":
        pytest.skip("installing with dpkg --root needs root (CI runs as root)")


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the package once for this module, exactly as IT would."""
    out = tmp_path_factory.mktemp("dist")
    # The dev venv's uv, as a build machine with uv would use it (pip took ~20 s of CPU here).
    uv = Path(sys.executable).with_name("uv")
    tools = {"CYCLONEDX": str(Path(sys.executable).with_name("cyclonedx-py"))}
    built = subprocess.run(
        ["bash", str(REPO / "packaging/linux/build-deb.sh"), str(out)],
        capture_output=True, text=True, timeout=900, check=False,
        env={**os.environ, **tools, **({"UV": str(uv)} if uv.exists() else {})},
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    path = Path(built.stdout.strip().splitlines()[-1])
    arch = subprocess.check_output(["dpkg", "--print-architecture"], text=True).strip()
    assert path.name == f"lessonwatch-agent_{VERSION}_{arch}.deb"
    return path


def locked_packages(extras: str, tmp: Path) -> dict[str, str]:
    """The name and version of every package uv.lock gives these extras on this machine."""
    out = tmp / f"{extras}.txt"
    uv = Path(sys.executable).with_name("uv")
    subprocess.run(
        ["bash", str(REPO / "packaging/locked-requirements.sh"), extras, str(out)],
        check=True, timeout=120, env={**os.environ, "UV": str(uv)},
    )  # fmt: skip
    found: dict[str, str] = {}
    for line in out.read_text().splitlines():
        if "==" not in line or line.startswith((" ", "#")):
            continue
        requirement, _, marker = line.rstrip(" \\").partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate():
            continue
        name, _, version = requirement.strip().partition("==")
        found[canonical(name)] = version
    return found


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dpkg(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Chrootless maintainer scripts get DPKG_ROOT; ours honour it. Dependencies (python3,
    # passwd) are the host's, which the throwaway root's empty database does not know.
    return subprocess.run(
        ["dpkg", f"--root={root}", "--force-script-chrootless", "--force-depends",
         f"--log={root.parent / 'dpkg.log'}", *args],
        capture_output=True, text=True, timeout=300, check=False, env=ENV,
    )  # fmt: skip


def snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    """A throwaway root with the account files and an empty dpkg database."""
    _needs_root()
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (r / "etc/group").write_text("root:x:0:\n")
    (r / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    (r / "etc/gshadow").write_text("root:*::\n")
    for sub in ("info", "updates", "triggers"):
        (r / "var/lib/dpkg" / sub).mkdir(parents=True)
    (r / "var/cache").mkdir()  # every Debian root has it
    (r / "var/lib/dpkg/status").write_text("")
    (r / "var/lib/dpkg/available").write_text("")
    yield r
    shutil.rmtree(r, ignore_errors=True)


def installed_agent(root: Path, *args: str, state: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed console script with the installed venv's interpreter."""
    venv = root / PREFIX / "venv"
    return subprocess.run(
        [str(venv / "bin/python"), str(venv / "bin/lessonwatch-agent"), *args],
        capture_output=True, text=True, timeout=120, check=False,
        env={**ENV, "HOME": str(state), "LESSONWATCH_STATE_DIR": str(state)},
        cwd=state,
    )  # fmt: skip


def native_host(root: Path, origin: str, work: Path) -> subprocess.CompletedProcess[bytes]:
    """The installed native host as a browser starts it, its port closed at once."""
    venv = root / PREFIX / "venv"
    return subprocess.run(
        [str(venv / "bin/python"), str(venv / "bin/lessonwatch-agent"), "native-host", origin],
        input=b"", capture_output=True, timeout=60, check=False, env={**ENV, "HOME": str(work)},
        cwd=work,
    )  # fmt: skip


def test_deb_installs_runs_and_purges_clean(deb: Path, root: Path, tmp_path: Path) -> None:
    """Install into a throwaway root: files, account, private state, the enrolment file's
    permissions; the installed agent runs; remove keeps state; purge leaves only the account."""
    before = snapshot(root)
    (root / "etc/lessonwatch").mkdir()
    conf = root / "etc/lessonwatch/enroll.conf"
    conf.write_text('server = "https://lessonwatch.school.example"\ncode = "ABCD-EFGH-JKLM"\n')
    conf.chmod(0o644)

    done = dpkg(root, "-i", str(deb))
    assert done.returncode == 0, done.stdout + done.stderr

    passwd = (root / "etc/passwd").read_text()
    account = next(line for line in passwd.splitlines() if line.startswith("lessonwatch:"))
    uid, gid = int(account.split(":")[2]), int(account.split(":")[3])
    assert account.endswith(":/var/lib/lessonwatch-agent:/usr/sbin/nologin")
    state = root / "var/lib/lessonwatch-agent"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert (state.stat().st_uid, state.stat().st_gid) == (uid, gid)
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640 and conf.stat().st_gid == gid
    unit = root / "lib/systemd/system/lessonwatch-agent.service"
    assert "--enroll-file /etc/lessonwatch/enroll.conf" in unit.read_text()
    assert "--helper-socket /run/lessonwatch-agent/helper.sock" in unit.read_text()
    user_unit = root / USER_UNIT
    assert "lessonwatch-agent helper --socket /run/lessonwatch-agent/helper.sock" in (
        user_unit.read_text()
    )
    assert os.readlink(root / USER_WANTS) == "../lessonwatch-agent-helper.service"
    autostart = root / AUTOSTART
    assert "systemctl --user start lessonwatch-agent-helper.service" in autostart.read_text()
    assert (
        os.readlink(root / "usr/bin/lessonwatch-agent") == f"/{PREFIX}/venv/bin/lessonwatch-agent"
    )
    assert (
        f"#!/{PREFIX}/venv/bin/python" in (root / PREFIX / "venv/bin/lessonwatch-agent").read_text()
    )
    assert str(tmp_path) not in (root / PREFIX / "venv/pyvenv.cfg").read_text()
    # The bytecode ships in the package (the hardened service cannot write __pycache__), and
    # names the installed sources, not the build's staging directory.
    site = next((root / PREFIX / "venv/lib").glob("python3.*/site-packages"))
    cli_pyc = next((site / "agent/__pycache__").glob("cli.cpython-*.pyc"))
    code = marshal.loads(cli_pyc.read_bytes()[16:])
    assert code.co_filename == "/" + str((site / "agent/cli.py").relative_to(root))
    compiled_at = cli_pyc.stat().st_mtime_ns

    work = tmp_path / "work"
    work.mkdir()
    version = installed_agent(root, "--version", state=work)
    assert version.returncode == 0, version.stderr
    assert VERSION in version.stdout
    scan = installed_agent(root, "scan", "--json", state=work)
    assert scan.returncode == 0, scan.stderr
    result = json.loads(scan.stdout)
    assert isinstance(result["findings"], list)
    assert result["probes"]["processes"] == "ok"
    assert cli_pyc.stat().st_mtime_ns == compiled_at, "the shipped bytecode is used as it is"
    assert_service_bytecode_cache(root, site, unit.read_text())

    # Paired mode: the browser extension's native host, registered for the three browsers; run
    # as the browser runs it (origin first, framing on stdout), and refusing any other origin.
    manifests = [
        root / f / HOST_MANIFEST for f in ("etc/opt/chrome", "etc/chromium", "etc/opt/edge")
    ]
    for manifest in manifests:
        assert json.loads(manifest.read_text())["path"] == f"/{PREFIX}/native-host"
    assert os.access(root / PREFIX / "native-host", os.X_OK)
    said = native_host(root, "chrome-extension://miidlkkbabhbefopaneddnaplacpdfhl/", work)
    assert said.returncode == 0, said.stderr
    assert json.loads(said.stdout[4 : 4 + int.from_bytes(said.stdout[:4], sys.byteorder)]) == {
        "v": 1, "type": "hello", "agent": VERSION,
    }  # fmt: skip
    other = native_host(root, "chrome-extension://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/", work)
    assert other.returncode == 1 and other.stdout == b""

    removed = dpkg(root, "--remove", "lessonwatch-agent")
    assert removed.returncode == 0, removed.stderr
    assert not any(m.exists() for m in manifests)
    assert not (root / PREFIX).exists() and not unit.exists()
    assert not user_unit.exists() and not (root / USER_WANTS).is_symlink()
    assert not (root / CACHE).parent.exists(), "the bytecode cache goes with the program"
    assert state.is_dir() and conf.exists(), "remove keeps the identity and the enrolment file"
    # dpkg keeps a removed package's conffiles; TryExec makes the entry inert without the program.
    assert autostart.exists() and f"TryExec=/{PREFIX}/venv/bin/" in autostart.read_text()

    purged = dpkg(root, "--purge", "lessonwatch-agent")
    assert purged.returncode == 0, purged.stderr
    left = snapshot(root) - before
    stays = {p for p in left if p.startswith(("var/lib/dpkg", "etc/passwd", "etc/group",
                                              "etc/shadow", "etc/gshadow"))}  # fmt: skip
    assert left - stays == set(), "purge leaves only the system account and dpkg's records"
    assert "lessonwatch:" in (root / "etc/passwd").read_text()


def assert_service_bytecode_cache(root: Path, site: Path, unit: str) -> None:
    """The service's bytecode: compiled at install with -OO and without column tables into the
    cache its unit names, root's, and compiled again when the standard library changes."""
    assert f"PYTHONPYCACHEPREFIX=/{CACHE}" in unit and "PYTHONOPTIMIZE=2" in unit
    assert "PYTHONNODEBUGRANGES=1" in unit
    cache = root / CACHE
    cached = next((cache / site.relative_to(root) / "agent").glob("cli.cpython-*.opt-2.pyc"))
    assert cached.stat().st_uid == 0 and not cached.stat().st_mode & 0o022
    code = marshal.loads(cached.read_bytes()[16:])
    assert not any(isinstance(c, str) and "Exit codes" in c for c in code.co_consts), "-OO"
    assert {cols for *_, cols in code.co_positions()} == {None}, "no column tables"
    triggers = (root / "var/lib/dpkg/info/lessonwatch-agent.triggers").read_text()
    minor = ".".join(site.parent.name.removeprefix("python").split(".")[:2])
    assert triggers.strip() == f"interest-noawait /usr/lib/python{minor}"
    shutil.rmtree(cache)
    postinst = root / "var/lib/dpkg/info/lessonwatch-agent.postinst"
    again = subprocess.run(
        ["sh", str(postinst), "triggered", f"/usr/lib/python{minor}"],
        capture_output=True, text=True, timeout=300, check=False,
        env={**ENV, "DPKG_ROOT": str(root)},
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert cached.exists() and not (root / f"{CACHE}.new").exists()


def test_the_package_holds_exactly_the_locked_packages_and_its_sbom_lists_them(
    deb: Path, tmp_path: Path
) -> None:
    """Two builds from one commit carry the same packages: those of uv.lock, each at its locked
    version, and nothing else; the CycloneDX SBOM beside the .deb lists exactly those."""
    unpacked = tmp_path / "unpacked"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True, timeout=120)
    site = next((unpacked / PREFIX / "venv/lib").glob("python3.*/site-packages"))
    shipped: dict[str, str] = {}
    for info in site.glob("*.dist-info"):
        fields = dict(
            line.split(": ", 1)
            for line in (info / "METADATA").read_text().splitlines()
            if line.startswith(("Name: ", "Version: "))
        )
        shipped[canonical(fields["Name"])] = fields["Version"]
    assert shipped.pop("lessonwatch") == VERSION
    assert shipped == locked_packages("agent", tmp_path)
    assert "pip" not in shipped and "setuptools" not in shipped

    sbom = json.loads(deb.with_name(deb.name.removesuffix(".deb") + ".cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    assert sbom["metadata"]["component"]["name"] == "lessonwatch"
    listed = {canonical(c["name"]): c["version"] for c in sbom["components"]}
    listed.pop("lessonwatch", None)
    assert listed == shipped
    assert all(c["purl"].startswith("pkg:pypi/") for c in sbom["components"])


def test_unit_file_passes_systemd_analyze_verify(deb: Path, root: Path) -> None:
    """systemd's own checker accepts the installed unit."""
    if not shutil.which("systemd-analyze"):
        pytest.fail("systemd-analyze is missing (./dev test installs it)")
    # The checker resolves dependencies such as sysinit.target inside the root: give it the
    # host's systemd units, as a real system has them.
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    done = dpkg(root, "-i", str(deb))
    assert done.returncode == 0, done.stderr
    verify = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", "lessonwatch-agent.service"],
        capture_output=True, text=True, timeout=60, check=False, env=ENV,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "lessonwatch-agent.service" not in verify.stderr, verify.stderr


def test_user_unit_passes_systemd_analyze_verify(deb: Path, root: Path, tmp_path: Path) -> None:
    """systemd's checker accepts the helper's user unit, with its program where it installs.

    ``verify --user`` takes no ``--root``: in a private mount namespace the installed /opt is
    bound over the host's, so the unit's ExecStart is checked against the installed program.
    """
    if not shutil.which("systemd-analyze") or not shutil.which("unshare"):
        pytest.fail("systemd-analyze and unshare are needed (./dev test installs systemd)")
    done = dpkg(root, "-i", str(deb))
    assert done.returncode == 0, done.stderr
    runtime = tmp_path / "xdg-runtime"
    runtime.mkdir(mode=0o700)
    verify = subprocess.run(
        ["unshare", "--mount", "sh", "-c",
         f'mount --bind "{root}/opt" /opt && systemd-analyze --user verify "{root / USER_UNIT}"'],
        capture_output=True, text=True, timeout=60, check=False,
        env={**ENV, "XDG_RUNTIME_DIR": str(runtime)},
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "lessonwatch-agent-helper.service" not in verify.stderr, verify.stderr
