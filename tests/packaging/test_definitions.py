"""Service definitions and installer scripts, checked with what this machine has: parsers for
plist, XML and YAML, the Dockerfile's instructions and sources, sh -n and shellcheck.
PowerShell, pkgbuild and a Docker engine are not available here (docs/deploy.md says so)."""

from __future__ import annotations

import plistlib
import re
import shutil
import subprocess
import xml.dom.minidom
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PKG = REPO / "packaging"
SCRIPTS = [
    PKG / "linux/build-deb.sh",
    PKG / "linux/debian/postinst",
    PKG / "linux/debian/prerm",
    PKG / "linux/debian/postrm",
    PKG / "macos/build-pkg.sh",
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


def test_winsw_definition_restarts_the_agent() -> None:
    """The WinSW XML is well formed, runs `run`, starts automatically and restarts on failure."""
    doc = xml.dom.minidom.parse(str(PKG / "windows/lessonwatch-agent.xml"))

    def text(tag: str) -> str:
        return doc.getElementsByTagName(tag)[0].firstChild.data  # type: ignore[union-attr]

    assert text("arguments").startswith("run ") and "--enroll-file" in text("arguments")
    assert text("startmode") == "Automatic"
    assert doc.getElementsByTagName("onfailure")[0].getAttribute("action") == "restart"


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
