"""Service definitions and installer scripts, checked with what this machine has: parsers for
plist, XML and YAML, the Dockerfile's instructions and sources, sh -n and shellcheck.
PowerShell, pkgbuild and a Docker engine are not available here (docs/deploy.md says so)."""

from __future__ import annotations

import json
import plistlib
import re
import shutil
import subprocess
import sys
import xml.dom.minidom
from pathlib import Path

import pytest
import yaml

from agent.channel import default_address
from agent.native_host import HOST_NAME, ORIGINS

REPO = Path(__file__).resolve().parents[2]
PKG = REPO / "packaging"
SCRIPTS = [
    PKG / "linux/build-deb.sh",
    PKG / "linux/debian/postinst",
    PKG / "linux/debian/prerm",
    PKG / "linux/debian/postrm",
    PKG / "macos/build-pkg.sh",
    PKG / "linux/native-host",
    PKG / "macos/native-host",
    PKG / "locked-requirements.sh",
    REPO / "dev",
    REPO / ".ci/run",
]
DOCKERFILE_INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
    "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}  # fmt: skip


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_scripts_parse_and_pass_shellcheck(script: Path) -> None:
    """Every shell script parses, and shellcheck finds no warning."""
    shell = "bash" if "bash" in script.read_text().splitlines()[0] else "sh"
    assert subprocess.run([shell, "-n", str(script)], capture_output=True).returncode == 0
    if not shutil.which("shellcheck"):
        pytest.fail("shellcheck is missing (./dev test installs it)")
    checked = subprocess.run(
        ["shellcheck", "-S", "warning", str(script)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout


def test_launchd_plist_runs_the_agent_with_its_enrolment_file() -> None:
    """The LaunchDaemon is a valid plist that runs `run` as the service account, kept alive."""
    plist = plistlib.loads((PKG / "macos/nl.lessonwatch.agent.plist").read_bytes())
    args = plist["ProgramArguments"]
    assert args[0].endswith("/venv/bin/lessonwatch-agent") and args[1] == "run"
    assert "--enroll-file" in args and "--state-dir" in args
    assert plist["UserName"] == "_lessonwatch" and plist["KeepAlive"] is True
    # launchd has no log rotation: the agent rotates its own file, in a folder it owns.
    log = args[args.index("--log-file") + 1]
    assert log == "/Library/Logs/lessonwatch/agent.log" != plist["StandardErrorPath"]
    assert "-o _lessonwatch /Library/Logs/lessonwatch" in (PKG / "macos/build-pkg.sh").read_text()


def test_launch_agent_runs_the_helper_in_every_gui_session() -> None:
    """The LaunchAgent runs `helper` on the daemon's channel, in Aqua sessions only, kept alive;
    build-pkg.sh installs it and makes the channel's folder the daemon's."""
    plist = plistlib.loads((PKG / "macos/nl.lessonwatch.helper.plist").read_bytes())
    args = plist["ProgramArguments"]
    assert args[0].endswith("/venv/bin/lessonwatch-agent") and args[1:3] == ["helper", "--socket"]
    assert args[3] == default_address("darwin")
    assert plist["LimitLoadToSessionType"] == "Aqua" and plist["KeepAlive"] is True
    assert "UserName" not in plist  # it runs as whoever signs in
    daemon = plistlib.loads((PKG / "macos/nl.lessonwatch.agent.plist").read_bytes())
    at = daemon["ProgramArguments"].index("--helper-socket")
    assert daemon["ProgramArguments"][at + 1] == default_address("darwin")
    build = (PKG / "macos/build-pkg.sh").read_text()
    assert "Library/LaunchAgents/" in build and "nl.lessonwatch.helper.plist" in build
    assert 'install -d -m 0755 -o _lessonwatch "$PREFIX/run"' in build


def test_windows_logon_task_runs_the_helper_as_the_user() -> None:
    """The task XML is well formed: at any logon, as the user (Users group, least privilege),
    hidden, no time limit, restarted; install.ps1 registers it and uninstall.ps1 removes it."""
    doc = xml.dom.minidom.parse(str(PKG / "windows/lessonwatch-agent-helper.xml"))

    def text(tag: str) -> str:
        return doc.getElementsByTagName(tag)[0].firstChild.data  # type: ignore[union-attr]

    assert doc.getElementsByTagName("LogonTrigger") and not doc.getElementsByTagName("UserId")
    assert text("GroupId") == "S-1-5-32-545" and text("RunLevel") == "LeastPrivilege"
    assert text("Command").endswith('\\venv\\Scripts\\pythonw.exe"')
    assert text("Arguments") == f"-m agent helper --socket {default_address('win32')}"
    assert text("Hidden") == "true" and text("ExecutionTimeLimit") == "PT0S"
    assert text("MultipleInstancesPolicy") == "IgnoreNew"
    principal = doc.getElementsByTagName("Principal")[0].getAttribute("id")
    assert doc.getElementsByTagName("Actions")[0].getAttribute("Context") == principal
    install = (PKG / "windows/install.ps1").read_text()
    assert "Register-ScheduledTask -TaskName 'lessonwatch-agent-helper'" in install
    assert "lessonwatch-agent-helper.xml" in install
    uninstall = (PKG / "windows/uninstall.ps1").read_text()
    assert "Unregister-ScheduledTask -TaskName 'lessonwatch-agent-helper'" in uninstall


def test_linux_units_share_the_helper_channel() -> None:
    """The system unit creates the channel's folder and listens there; the user unit and the
    autostart entry start the helper on that channel."""
    system = (PKG / "linux/lessonwatch-agent.service").read_text()
    assert "RuntimeDirectory=lessonwatch-agent\n" in system
    assert "RuntimeDirectoryMode=0755" in system
    assert f"--helper-socket {default_address('linux')}" in system
    user = (PKG / "linux/lessonwatch-agent-helper.service").read_text()
    assert f"lessonwatch-agent helper --socket {default_address('linux')}" in user
    assert "WantedBy=graphical-session.target" in user
    desktop = (PKG / "linux/lessonwatch-agent-helper.desktop").read_text()
    assert "Exec=systemctl --user start lessonwatch-agent-helper.service" in desktop


def test_winsw_definition_restarts_the_agent() -> None:
    """The WinSW XML is well formed, runs `run`, starts automatically and restarts on failure."""
    doc = xml.dom.minidom.parse(str(PKG / "windows/lessonwatch-agent.xml"))

    def text(tag: str) -> str:
        return doc.getElementsByTagName(tag)[0].firstChild.data  # type: ignore[union-attr]

    assert text("arguments").startswith("run ") and "--enroll-file" in text("arguments")
    assert text("arguments").endswith(f"--helper-socket {default_address('win32')}")
    assert text("startmode") == "Automatic"
    assert doc.getElementsByTagName("onfailure")[0].getAttribute("action") == "restart"


def service_environments() -> dict[str, dict[str, str]]:
    """The environment each platform's service definition gives the agent."""
    unit = (PKG / "linux/lessonwatch-agent.service").read_text()
    line = next(x for x in unit.splitlines() if x.startswith("Environment="))
    plist = plistlib.loads((PKG / "macos/nl.lessonwatch.agent.plist").read_bytes())
    winsw = xml.dom.minidom.parse(str(PKG / "windows/lessonwatch-agent.xml"))
    return {
        "systemd": dict(kv.split("=", 1) for kv in line.removeprefix("Environment=").split()),
        "launchd": plist["EnvironmentVariables"],
        "winsw": {
            e.getAttribute("name"): e.getAttribute("value")
            for e in winsw.getElementsByTagName("env")
        },
    }


def test_the_per_user_helper_runs_with_its_services_flags_and_cache_on_linux_and_macos() -> None:
    """The helper reads the same root-owned cache as the service beside it. (Windows starts the
    helper from a logon task, which cannot set an environment: there it runs without.)"""
    unit = (PKG / "linux/lessonwatch-agent-helper.service").read_text()
    line = next(x for x in unit.splitlines() if x.startswith("Environment="))
    helper_systemd = dict(kv.split("=", 1) for kv in line.removeprefix("Environment=").split())
    helper_launchd = plistlib.loads((PKG / "macos/nl.lessonwatch.helper.plist").read_bytes())
    services = service_environments()
    assert helper_systemd == services["systemd"]
    assert helper_launchd["EnvironmentVariables"] == services["launchd"]


def test_every_service_runs_the_agent_optimised_from_the_cache_its_installer_compiles() -> None:
    """The same flags everywhere (docs/performance.md, "Agent"), and each installer compiles
    the standard library and the venv with them into the cache its service names."""
    envs = service_environments()
    for env in envs.values():
        assert env.keys() == {"PYTHONOPTIMIZE", "PYTHONNODEBUGRANGES", "PYTHONPYCACHEPREFIX"}
        assert (env["PYTHONOPTIMIZE"], env["PYTHONNODEBUGRANGES"]) == ("2", "1")
    # The cache each service names, and how its installer names the same folder.
    caches = {
        "systemd": ("/var/cache/lessonwatch-agent/pycache", "linux/debian/postinst",
                    "CACHE=/var/cache/lessonwatch-agent/pycache"),
        "launchd": ("/Library/Application Support/lessonwatch/pycache", "macos/build-pkg.sh",
                    'pycache_prefix="$PREFIX/pycache"'),
        "winsw": ("%BASE%\\pycache", "windows/install.ps1", "pycache_prefix=$Base\\pycache"),
    }  # fmt: skip
    for name, (cache, installer, named) in caches.items():
        assert envs[name]["PYTHONPYCACHEPREFIX"] == cache
        text = (PKG / installer).read_text()
        assert "-OO -X no_debug_ranges -X " in text and named in text, name
        assert "-m compileall -q -j 0" in text, name
    assert "interest-noawait /usr/lib/python$PYMINOR" in (PKG / "linux/build-deb.sh").read_text()


def test_compose_file_has_collector_and_database() -> None:
    """compose.yaml is valid YAML with a PostgreSQL service and a collector that uses it."""
    compose = yaml.safe_load((PKG / "collector/compose.yaml").read_text())
    assert set(compose["services"]) == {"db", "collector"}
    collector = compose["services"]["collector"]
    assert collector["environment"]["LESSONWATCH_DB"].startswith("postgresql+psycopg://")
    assert collector["depends_on"]["db"]["condition"] == "service_healthy"
    assert (REPO / collector["build"]["dockerfile"]).is_file()


def test_dockerfile_instructions_and_sources_exist() -> None:
    """Every Dockerfile line is a known instruction, and every COPY source is in the repo."""
    lines = (PKG / "collector/Dockerfile").read_text().splitlines()
    logical = re.sub(r"\\\n\s*", " ", "\n".join(lines)).splitlines()
    for line in logical:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction = line.split()[0]
        assert instruction in DOCKERFILE_INSTRUCTIONS, line
        if instruction == "COPY":
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source
    assert logical[-1].startswith("CMD") and "lessonwatch-service" in logical[-1]


def test_the_agent_brings_its_own_time_zone_data_on_windows() -> None:
    """zoneinfo reads the OS's time-zone database, which Windows lacks: without the tzdata
    package every lesson time (and ``explain``) would fail there."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    agent = [Requirement(r) for r in project["optional-dependencies"]["agent"]]
    (tzdata,) = [r for r in agent if r.name == "tzdata"]
    assert tzdata.marker is not None
    assert tzdata.marker.evaluate({"sys_platform": "win32"})
    assert not tzdata.marker.evaluate({"sys_platform": "linux"})


@pytest.mark.parametrize(
    ("platform", "path", "installed_by"),
    [
        ("linux", "/opt/lessonwatch-agent/native-host", "linux/build-deb.sh"),
        ("macos", "/Library/Application Support/lessonwatch/native-host", "macos/build-pkg.sh"),
        ("windows", "native-host.bat", "windows/install.ps1"),
    ],
)
def test_native_messaging_host_manifests_name_our_host_and_only_our_extension(
    platform: str, path: str, installed_by: str
) -> None:
    """One manifest per platform (Chrome, Chromium and Edge read the same format): the host
    name and origin the native host checks, no wildcard, the wrapper the installer puts there,
    and the installer registers it for all three browsers."""
    manifest = json.loads((PKG / platform / "nl.lessonwatch.agent.json").read_text())
    assert manifest["name"] == HOST_NAME and manifest["type"] == "stdio"
    assert manifest["allowed_origins"] == sorted(ORIGINS)
    assert manifest["path"] == path
    wrapper = PKG / platform / Path(path).name
    assert "lessonwatch-agent" in wrapper.read_text() and "native-host" in wrapper.read_text()
    installer = (PKG / installed_by).read_text()
    assert Path(path).name in installer and "nl.lessonwatch.agent.json" in installer
    folders = {
        "linux": ("etc/opt/chrome", "etc/chromium", "etc/opt/edge"),
        "macos": ('"Google/Chrome"', '"Application Support/Chromium"', '"Microsoft/Edge"'),
        "windows": ("'Google\\Chrome'", "'Chromium'", "'Microsoft\\Edge'"),
    }[platform]
    for folder in folders:
        assert folder in installer, folder
    if platform == "windows":
        assert "NativeMessagingHosts" in (PKG / "windows/uninstall.ps1").read_text()


@pytest.mark.parametrize(
    "installer",
    ["dev", "packaging/linux/build-deb.sh", "packaging/macos/build-pkg.sh",
     "packaging/collector/Dockerfile"],
)  # fmt: skip
def test_every_installer_installs_exactly_the_lock(installer: str) -> None:
    """./dev (and so CI), the .deb, the macOS package and the Docker image take their packages
    from uv.lock through one script, checked against the lock's hashes, and lessonwatch itself
    without resolving its dependencies again."""
    text = (REPO / installer).read_text()
    assert "locked-requirements.sh" in text
    assert "--require-hashes" in text
    assert "--no-deps" in text
    assert not re.search(r"install[^\n]*\[(agent|service|dev)\]", text), "an unlocked install"


def test_the_lock_is_the_one_pyproject_asks_for() -> None:
    """uv.lock answers pyproject.toml as it is: a dependency changed without `uv lock` fails
    here (offline, from the lock and uv's cache)."""
    uv = Path(sys.executable).with_name("uv")
    checked = subprocess.run(
        [str(uv), "lock", "--check", "--offline"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
