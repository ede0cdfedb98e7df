"""Probes gather raw observations; failures become "unavailable"; raw names never go further."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from agent.probes import Off, Unavailable, devices_linux, devices_macos, devices_windows, gather
from agent.probes.capture import CaptureProbe
from agent.probes.folders_linux import capture_folders, user_dirs
from agent.probes.processes import ProcessProbe, flatpak_id, script_name, snap_name
from policies import (
    CaptureFileSeen,
    DeviceInUse,
    Observation,
    ProcessSeen,
    classify,
    compile_policy,
    load_policy,
)
from tests.agent.conftest import Processes
from tests.support.waiting import wait_for

FIXTURES = Path(__file__).parent / "fixtures"
COMPILED = compile_policy(load_policy())


def family(seen: Observation) -> str | None:
    match = classify(COMPILED, seen)
    return match.family if match else None


# -- processes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cgroup", "expected"),
    [
        (
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-flatpak-org.telegram.desktop-12345.scope\n",
            "org.telegram.desktop",
        ),
        (
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-flatpak-com.obsproject.Studio-2891.scope",
            "com.obsproject.Studio",
        ),
        ("0::/user.slice/user-1000.slice/session-2.scope\n", None),
        (
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-firefox-4242.scope",
            None,
        ),
        ("", None),
    ],
)
def test_flatpak_id_from_cgroup(cgroup: str, expected: str | None) -> None:
    """The Flatpak app id is read from the app-flatpak-<APPID>-<n>.scope cgroup."""
    assert flatpak_id(cgroup) == expected


@pytest.mark.parametrize(
    ("cgroup", "exe", "expected"),
    [
        (
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/snap.discord.discord-3b4f.scope",
            None,
            "discord",
        ),
        (
            "0::/user.slice/user-1000.slice/session-2.scope",
            "/snap/telegram-desktop/6093/usr/bin/telegram-desktop",
            "telegram-desktop",
        ),
        ("0::/user.slice/user-1000.slice/session-2.scope", "/usr/bin/snap", None),
        ("", None, None),
    ],
)
def test_snap_name(cgroup: str, exe: str | None, expected: str | None) -> None:
    """The snap name comes from the snap.<name>.<app> scope or a /snap/<name>/ executable."""
    assert snap_name(cgroup, exe) == expected


def test_process_probe_sees_real_processes(processes: Processes) -> None:
    """Copies of sleep named like Telegram, Discord and OBS are matched; a private name is not."""
    started = {
        name: processes.start(name)
        for name in ("telegram-desktop", "Discord", "obs", "my-private-diary")
    }
    probe = ProcessProbe()
    probe.start()
    seen = probe.sample()
    families = {family(s) for s in seen}
    assert {"telegram", "discord", "obs"} <= families
    (telegram,) = [s for s in seen if s.exe == started["telegram-desktop"].args[0]]
    # comm is cut at 15 characters; psutil restores the full name from the command line.
    assert telegram.name == "telegram-desktop" and telegram.platform == "linux"
    private = [s for s in seen if s.name == "my-private-diary"]
    assert private and family(private[0]) is None
    # A second sample reuses what it learnt and sees a process that has gone as gone.
    processes.stop_all()
    ours = {p.args[0] for p in started.values()}
    assert not [s for s in probe.sample() if s.exe in ours]


# -- capture folders ------------------------------------------------------------------------


def test_user_dirs_are_parsed_localized() -> None:
    """user-dirs.dirs with Dutch folder names and $HOME is read as the desktop writes it."""
    text = (
        '# comment\nXDG_PICTURES_DIR="$HOME/Afbeeldingen"\n'
        'XDG_VIDEOS_DIR="/data/Video\'s"\nXDG_MUSIC_DIR=broken "x\n'
    )
    dirs = user_dirs(text, Path("/home/pupil"))
    assert dirs == {
        "XDG_PICTURES_DIR": Path("/home/pupil/Afbeeldingen"),
        "XDG_VIDEOS_DIR": Path("/data/Video's"),
    }


def test_capture_folders_follow_user_dirs() -> None:
    """The screenshot folder lives under the localized Pictures folder."""
    home = Path(os.environ["HOME"])
    config = home / ".config"
    config.mkdir(parents=True)
    (config / "user-dirs.dirs").write_text('XDG_PICTURES_DIR="$HOME/Afbeeldingen"\n')
    folders = capture_folders(home, os.environ)
    assert home / "Afbeeldingen" / "Screenshots" in folders
    assert home / "Videos" / "Screencasts" in folders


@pytest.fixture
def capture(tmp_path: Path):
    shots = tmp_path / "Pictures" / "Screenshots"
    shots.mkdir(parents=True)
    probe = CaptureProbe(
        [shots, tmp_path / "Videos" / "Screencasts"], COMPILED.policy.capture_extensions
    )
    probe.start()
    yield probe, shots, tmp_path
    probe.stop()


def _poll(probe: CaptureProbe, timeout: float = 5.0) -> Sequence[CaptureFileSeen]:
    deadline = time.monotonic() + timeout
    found: list[CaptureFileSeen] = []
    while time.monotonic() < deadline and not found:
        found = list(probe.sample())
        time.sleep(0.05)
    return found


def test_new_png_is_seen_by_kind_only(capture) -> None:
    """A new screenshot is reported as an image file; its name goes nowhere."""
    probe, shots, _ = capture
    (shots / "Screenshot From 2026-11-24 08-41-02 - Geheim gesprek.png").write_bytes(
        b"\x89PNG\r\n\x1a\n"
    )
    found = _poll(probe)
    assert found == [CaptureFileSeen("new.png")]
    assert family(found[0]) == "image_file"
    assert list(probe.sample()) == []  # drained


def test_other_files_and_folders_are_ignored(capture) -> None:
    """Text files, and images outside the capture folders, are not capture events."""
    probe, shots, root = capture
    (shots / "notes.txt").write_text("x")
    (root / "Pictures" / "holiday.jpg").write_bytes(b"x")
    time.sleep(0.3)
    assert list(probe.sample()) == []


def test_folder_created_during_the_lesson_is_watched(capture) -> None:
    """The first screencast ever creates its folder; the probe still sees the video."""
    probe, _, root = capture
    casts = root / "Videos" / "Screencasts"
    (root / "Videos").mkdir()
    probe.stop()
    probe.start()  # Videos exists now, Screencasts not yet: its parent is watched
    casts.mkdir()
    time.sleep(0.3)
    (casts / "Screencast From 2026-11-24.webm").write_bytes(b"x")
    assert _poll(probe) == [CaptureFileSeen("new.webm")]


def test_capture_probe_not_running_is_unavailable(tmp_path: Path) -> None:
    """Outside a lesson the watcher does not run, and sampling it says so."""
    probe = CaptureProbe([tmp_path], COMPILED.policy.capture_extensions)
    with pytest.raises(Unavailable):
        probe.sample()


# -- camera and microphone: Linux, live ----------------------------------------------------


def test_video_holders_from_proc_fd_links(tmp_path: Path) -> None:
    """A process holding a video node open is found through /proc/<pid>/fd, without opening it."""
    dev = tmp_path / "dev"
    dev.mkdir()
    node = dev / "video0"
    node.write_bytes(b"")
    with node.open("rb") as fh:
        holder = subprocess.Popen(["sleep", "30"], stdin=fh)
    try:
        assert holder.pid in devices_linux.video_holders(dev_root=str(dev))
    finally:
        holder.kill()
        holder.wait()
    assert holder.pid not in devices_linux.video_holders(dev_root=str(dev))
    assert devices_linux.video_holders(dev_root=str(tmp_path / "nodev")) == set()


def test_microphone_without_a_sound_server_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No PulseAudio/PipeWire to ask (or no tools): the microphone signal is unavailable."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path}/none")
    with pytest.raises(Unavailable):
        devices_linux.microphone_in_use()


@pytest.mark.slow
@pytest.mark.skipif(
    # ./dev test installs PulseAudio; under CI a missing one must fail, never skip.
    (not shutil.which("pulseaudio") or not shutil.which("pacat"))
    and os.environ.get("CI") != "true",
    reason="PulseAudio is not installed here (./dev test installs it)",
)
def test_microphone_capture_stream_live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real PulseAudio daemon with a recording app named audacity: the microphone is in use."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.delenv("PULSE_SERVER", raising=False)
    env = dict(os.environ)
    daemon = subprocess.Popen(
        [
            "pulseaudio",
            "-n",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--log-target=stderr",
            "--load=module-native-protocol-unix",
            "--load=module-null-sink sink_name=null",
        ],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    recorder_exe = tmp_path / "audacity"
    shutil.copy(shutil.which("pacat") or "", recorder_exe)
    recorder = None
    try:
        wait_for(
            lambda: subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0,
            timeout=10,
        )
        assert devices_linux.microphone_in_use() == []
        recorder = subprocess.Popen(
            [str(recorder_exe), "--record", "--device=null.monitor", os.devnull], env=env
        )
        found: list[DeviceInUse] = []

        def seen() -> bool:
            found[:] = devices_linux.microphone_in_use()
            return bool(found)

        wait_for(seen, timeout=10)
        assert [family(d) for d in found] == ["audacity"]
        assert classify(COMPILED, found[0]).category == "microphone"  # type: ignore[union-attr]
    finally:
        if recorder:
            recorder.kill()
            recorder.wait()
        daemon.terminate()
        daemon.wait(timeout=10)


# -- camera and microphone: recorded and constructed fixtures ------------------------------


def test_pactl_fixture_recorded() -> None:
    """Recorded pactl output: two live capture streams, attributed to their binaries."""
    streams = devices_linux.parse_pactl_source_outputs(
        (FIXTURES / "linux/pactl-source-outputs-two.txt").read_text()
    )
    assert [s["application.process.binary"] for s in streams] == ["audacity", "pacat"]
    assert streams[0]["Corked"] == "no"
    holders = devices_linux.capturing(streams)
    assert [h.name for h in holders if h] == ["audacity", "pacat"]
    assert [family(DeviceInUse("microphone", h)) for h in holders] == ["audacity", "microphone"]


@pytest.mark.parametrize(
    ("stream", "live"),
    [
        ({"application.process.binary": "audacity", "Corked": "no"}, True),
        ({"application.process.binary": "audacity", "Corked": "yes"}, False),
        ({"application.process.binary": "gnome-shell"}, False),
        ({"application.process.binary": "pavucontrol"}, False),
        ({"application.process.binary": "obs", "stream.monitor": "true"}, False),
        ({}, True),
    ],
)
def test_capture_stream_filter(stream: dict[str, str], live: bool) -> None:
    """Paused streams, monitors and the desktop's own streams are not recordings."""
    assert bool(devices_linux.capturing([stream])) is live


def test_pw_dump_fixture() -> None:
    """pw-dump: running audio capture stream nodes, minus the shell's own and idle ones."""
    streams = devices_linux.parse_pw_dump(
        json.loads((FIXTURES / "linux/pw-dump-capture.json").read_text())
    )
    holders = devices_linux.capturing(streams)
    assert [h.name for h in holders if h] == ["audacity"]


def read_reg_export(
    path: Path, capability: str
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """A ``reg export`` of the ConsentStore as the two tables the Windows reader builds."""
    text = path.read_bytes().decode("utf-16")
    prefix = devices_windows.CONSENT_STORE + "\\" + capability + "\\"
    packaged: dict[str, dict[str, int]] = {}
    nonpackaged: dict[str, dict[str, int]] = {}
    current: dict[str, int] | None = None
    for line in text.splitlines():
        if line.startswith("["):
            key = line.strip("[]").split("\\", 1)[1]
            rest = key[len(prefix) :] if key.startswith(prefix) else None
            current = None
            if rest and rest != "NonPackaged":
                table = nonpackaged if rest.startswith("NonPackaged\\") else packaged
                current = table.setdefault(rest.removeprefix("NonPackaged\\"), {})
        elif current is not None and "=hex(b):" in line:
            name, raw = line.split("=hex(b):")
            current[name.strip('"')] = int.from_bytes(
                bytes(int(b, 16) for b in raw.split(",")), "little"
            )
    return packaged, nonpackaged


def test_windows_consent_store_camera() -> None:
    """ConsentStore: apps with LastUsedTimeStop 0 hold the camera; released ones do not."""
    holders = devices_windows.consent_store_in_use(
        *read_reg_export(FIXTURES / "windows/consentstore-webcam.reg", "webcam")
    )
    assert holders == [
        ProcessSeen(store_package="Microsoft.WindowsCamera_8wekyb3d8bbwe", platform="windows"),
        ProcessSeen(
            exe="C:\\Users\\pupil\\AppData\\Local\\Discord\\app-1.0.9147\\Discord.exe",
            platform="windows",
        ),
    ]
    assert [family(DeviceInUse("camera", h)) for h in holders] == ["windows_camera", "discord"]


def test_windows_consent_store_microphone_allows_school_calls() -> None:
    """Zoom holding the microphone is the school's call tool: no match; Sound Recorder is one."""
    holders = devices_windows.consent_store_in_use(
        *read_reg_export(FIXTURES / "windows/consentstore-microphone.reg", "microphone")
    )
    assert [family(DeviceInUse("microphone", h)) for h in holders] == ["sound_recorder", None]


def test_windows_per_process_apis() -> None:
    """Sensor activity and audio sessions: only streaming / Active sessions of real processes."""
    sensors = json.loads((FIXTURES / "windows/sensor-activity.json").read_text())
    sessions = json.loads((FIXTURES / "windows/audio-sessions.json").read_text())
    assert [
        family(DeviceInUse("camera", h)) for h in devices_windows.sensor_activity_in_use(sensors)
    ] == ["windows_camera"]
    assert [
        family(DeviceInUse("microphone", h))
        for h in devices_windows.audio_sessions_in_use(sessions)
    ] == ["sound_recorder"]


def test_windows_reader_is_unavailable_here() -> None:
    """Off Windows the registry reader says unavailable instead of crashing."""
    with pytest.raises(Unavailable):
        devices_windows.camera_in_use()


@pytest.mark.parametrize(
    ("fixture", "running"),
    [
        ("cmio-video-devices.json", True),
        ("cmio-video-devices-idle.json", False),
        ("coreaudio-input-devices.json", False),
    ],
)
def test_macos_running_somewhere(fixture: str, running: bool) -> None:
    """IsRunningSomewhere on a real device counts; virtual cameras and loopback inputs do not."""
    assert (
        devices_macos.devices_running(json.loads((FIXTURES / "macos" / fixture).read_text()))
        is running
    )


def test_macos_audio_process_objects() -> None:
    """macOS 14.2 process objects: Voice Memos recording is a finding, Zoom is the school's tool."""
    holders = devices_macos.processes_running_input(
        json.loads((FIXTURES / "macos/coreaudio-processes.json").read_text())
    )
    assert [h.bundle_id for h in holders] == ["com.apple.VoiceMemos", "us.zoom.xos"]
    assert [family(DeviceInUse("microphone", h)) for h in holders] == ["voice_memos", None]


def test_macos_reader_is_unavailable_here() -> None:
    """Without PyObjC the macOS readers say unavailable."""
    with pytest.raises(Unavailable):
        devices_macos.camera_in_use()


# -- gather ---------------------------------------------------------------------------------


class Broken:
    name = "camera"

    def __init__(self, error: Exception):
        self.error = error

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def sample(self) -> Sequence[Observation]:
        raise self.error


@pytest.mark.parametrize(
    "error", [Unavailable("wayland"), PermissionError(13, "denied"), RuntimeError("bug")]
)
def test_a_failing_probe_is_unavailable_not_fatal(error: Exception, processes: Processes) -> None:
    """Any failure of one probe marks it unavailable; the others still report."""
    processes.start("telegram-desktop")
    observations, states = gather([ProcessProbe(), Broken(error), Off("window_title")])
    assert states == {"processes": "ok", "camera": "unavailable", "window_title": "off"}
    assert "telegram" in {family(o) for o in observations}


# -- window title ----------------------------------------------------------------------------


def test_window_probe_is_off_unless_the_policy_turns_it_on() -> None:
    """The foreground-window probe exists only when the policy's window_title_probe is on."""
    import dataclasses

    from agent.probes.window import WindowProbe
    from agent.sampler import build_probes

    assert isinstance(build_probes(COMPILED)[-1], Off)
    settings = dataclasses.replace(COMPILED.policy.settings, window_title_probe=True)
    on = compile_policy(dataclasses.replace(COMPILED.policy, settings=settings))
    assert isinstance(build_probes(on)[-1], WindowProbe)


@pytest.mark.parametrize("environ", [{}, {"WAYLAND_DISPLAY": "wayland-0"}])
def test_window_probe_without_x11_is_unavailable(environ: dict[str, str]) -> None:
    """Without an X11 display (Wayland, or no session) the signal is unavailable."""
    from agent.probes.window_linux import foreground

    with pytest.raises(Unavailable, match="no X11 display"):
        foreground(environ)


@pytest.mark.parametrize(
    ("cmdline", "expected"),
    [
        (["python3", "/usr/bin/kazam"], "kazam"),
        (["/usr/bin/python3", "-s", "/usr/bin/kazam", "--silent"], "kazam"),
        (
            ["gjs", "-m", "/usr/share/gnome-shell/org.gnome.Shell.Screencast"],
            "org.gnome.Shell.Screencast",
        ),
        (["python3"], None),
        (["python3", "-c"], None),
    ],
)
def test_script_name(cmdline: list[str], expected: str | None) -> None:
    """An interpreter's app is the script it runs."""
    assert script_name(cmdline) == expected


def test_script_run_by_an_interpreter_is_matched(tmp_path: Path) -> None:
    """'python3 .../kazam' is Kazam, as the screen recorder really runs."""
    import sys

    script = tmp_path / "kazam"
    script.write_text("import time\ntime.sleep(60)\n")
    python = tmp_path / "python3"
    python.symlink_to(sys.executable)
    proc = subprocess.Popen([str(python), str(script)])
    try:
        wait_for(lambda: "kazam" in {family(s) for s in ProcessProbe().sample()}, timeout=10)
        assert proc.poll() is None  # seen while running, not in a dying moment
    finally:
        proc.kill()
        proc.wait()


def test_macos_bundle_id_from_info_plist(tmp_path: Path) -> None:
    """A macOS executable's bundle id is read from its .app's Info.plist, outermost bundle first."""
    import plistlib

    from agent.probes.processes import bundle_id_of

    app = tmp_path / "Applications" / "Telegram.app"
    helper = app / "Contents" / "Frameworks" / "Helper.app"
    for bundle, ident in ((app, "ru.keepcoder.Telegram"), (helper, "ru.keepcoder.Telegram.Helper")):
        (bundle / "Contents" / "MacOS").mkdir(parents=True)
        with open(bundle / "Contents" / "Info.plist", "wb") as fh:
            plistlib.dump({"CFBundleIdentifier": ident}, fh)
    exe = str(helper / "Contents" / "MacOS" / "Helper")
    assert bundle_id_of(exe) == "ru.keepcoder.Telegram"
    assert family(ProcessSeen(bundle_id=bundle_id_of(exe), exe=exe, platform="macos")) == "telegram"
    assert bundle_id_of(str(tmp_path / "Broken.app" / "Contents" / "MacOS" / "x")) is None
    assert bundle_id_of("/usr/bin/python3") is None


def test_a_process_world_sees_its_own_apps_and_not_another_tests(tmp_path: Path) -> None:
    """The tests' parallel runs rest on this: a "Discord" started in one test's process world
    is seen by a probe reading that world's /proc, and not by one reading another world's."""
    import psutil

    from tests.support import process_world

    if not process_world.available() and os.environ.get("CI") != "true":
        pytest.skip("process worlds need root and unshare (CI runs as root)")
    ours, theirs = process_world.ProcessWorld(), process_world.ProcessWorld()
    try:
        exe = tmp_path / "Discord"
        shutil.copy(shutil.which("sleep") or "/bin/sleep", exe)
        app = theirs.popen([str(exe), "300"])
        seen: dict[str, set[str | None]] = {}
        for name, world in (("ours", ours), ("theirs", theirs)):
            original = psutil.PROCFS_PATH
            psutil.PROCFS_PATH = world.proc_root
            try:
                probe = ProcessProbe()
                probe.start()
                seen[name] = {family(s) for s in probe.sample()}
            finally:
                psutil.PROCFS_PATH = original
        assert "discord" in seen["theirs"] and "discord" not in seen["ours"]
        app.kill()
        assert app.wait(timeout=5) == -9  # a direct child of the test all the same
    finally:
        ours.close()
        theirs.close()
