"""The ingestion ratio measured with a compiled load generator, wrk, as a check on load.py.

    .venv/bin/python bench/ingest/wrk_check.py [--backends sqlite,postgres] [--seconds 5]
        [--rounds 3] [--connections 16] [--devices 64] [--lessons 600]

Needs Debian's ``wrk`` (``apt install wrk``); nothing else in the project does. One collector
process per backend, on a fresh database seeded as ``ingest.py`` seeds it; wrk drives, in turn,
``GET /healthz`` and ``POST /api/v1/agent/reports`` with one summary, from a Lua script that
gives every request a fresh report id and a real device token (64 devices, each device's
summaries going to the lessons in turn, as in ``ingest.py``). Each ratio is taken within a
round; the table gives the median with the lowest and highest round in brackets, and the
collector's CPU per request from /proc. After the run, every summary wrk saw acknowledged as
accepted must be stored, once.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.ingest import harness
from bench.ingest.ingest import UNLIMITED

# The report id is drawn per request: 36 characters of a UUID's shape (the collector parses it
# with uuid.UUID, which does not check the version). The ids acknowledged as accepted are
# written to the file named after "--"; anything else is counted and read back in done().
LUA = """
local tokens = %(tokens)s
local parts = %(parts)s
local counter = 0
other = 0  -- a global: done() reads each thread's with thread:get
local threads = {}
function setup(thread) table.insert(threads, thread) end
local function hex(n)
  local out = {}
  for i = 1, n do out[i] = string.format("%%x", math.random(0, 15)) end
  return table.concat(out)
end
function request()
  local device = counter %% #tokens
  local lesson = math.floor(counter / #tokens) %% #parts
  counter = counter + 1
  local id = hex(8) .. "-" .. hex(4) .. "-4" .. hex(3) .. "-a" .. hex(3) .. "-" .. hex(12)
  local body = '{"reports":[' .. parts[lesson + 1][1] .. id .. parts[lesson + 1][2] .. ']}'
  return wrk.format("POST", "/api/v1/agent/reports", {
    ["Authorization"] = "Bearer " .. tokens[device + 1],
    ["Content-Type"] = "application/json",
  }, body)
end
function init(args)
  -- Lua's generator starts from the same seed in every run: the next round would repeat ids.
  math.randomseed(tonumber(args[2]))
  accepted = io.open(args[1], "a")
  accepted:setvbuf("line")  -- a thread has no end hook to flush in
end
function response(status, headers, body)
  local id = string.match(body, '"report_id":"([^"]+)","status":"accepted"')
  if status == 200 and id then
    accepted:write(id, "\\n")
  else
    if other == 0 then io.stderr:write(status, " ", body, "\\n") end  -- the first, to say why
    other = other + 1
  end
end
function done(summary, latency, requests)
  local o = 0
  for _, t in ipairs(threads) do o = o + t:get("other") end
  io.write(string.format("OTHER %%d\\n", o))
end
"""


def lua_list(values: list[str]) -> str:
    return "{" + ",".join(json.dumps(v) for v in values) + "}"


def wrk(args: list[str], seconds: float) -> tuple[float, str]:
    done = subprocess.run(
        # Options first: what follows "--" goes to the Lua script.
        ["wrk", "-t1", f"-d{seconds:g}s", "--timeout", "30s", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds + 120,
    )
    if done.returncode:
        raise RuntimeError(f"wrk failed:\n{done.stdout}\n{done.stderr}")
    sys.stderr.write(done.stderr)
    found = re.search(r"Requests/sec:\s+([0-9.]+)", done.stdout)
    if found is None:
        raise RuntimeError(f"wrk printed no rate:\n{done.stdout}\n{done.stderr}")
    if "Non-2xx" in done.stdout or "Socket errors" in done.stdout:
        raise RuntimeError(f"wrk saw failures:\n{done.stdout}")
    return float(found.group(1)), done.stdout


def one_backend(backend: str, args: argparse.Namespace) -> list[list[object]]:
    now = datetime.now(UTC).replace(microsecond=0)
    with harness.fresh_database(backend) as url, tempfile.TemporaryDirectory() as folder:
        tokens, templates = harness.seed_devices_and_lessons(
            url, devices=args.devices, lessons=args.lessons, now=now
        )
        parts = []
        for template in templates:
            head, tail = template.replace("%%", "%").split("%s")
            parts.append("{" + json.dumps(head) + "," + json.dumps(tail) + "}")
        script = Path(folder) / "report.lua"
        script.write_text(
            LUA % {"tokens": lua_list(tokens), "parts": "{" + ",".join(parts) + "}"},
            encoding="utf-8",
        )
        pids: list[int] = []
        rates: dict[str, list[float]] = {"healthz": [], "batch 1": []}
        cpu: dict[str, list[float]] = {"healthz": [], "batch 1": []}
        acked = Path(folder) / "accepted.txt"
        with harness.collectors(url, 1, UNLIMITED, pids=pids) as urls:
            conns = f"-c{args.connections}"
            wrk([conns, f"{urls[0]}/healthz"], 1)  # warm-up
            for _ in range(args.rounds):
                for name, extra in (("healthz", []), ("batch 1", ["-s", str(script)])):
                    target = (
                        [urls[0], "--", str(acked), str(secrets.randbits(31))]
                        if extra
                        else [f"{urls[0]}/healthz"]
                    )
                    before = harness.cpu_seconds(pids)
                    rate, out = wrk([conns, *extra, *target], args.seconds)
                    spent = harness.cpu_seconds(pids) - before
                    rates[name].append(rate)
                    cpu[name].append(spent / max(rate * args.seconds, 1))
                    if extra and "OTHER 0" not in out:
                        raise RuntimeError(f"not every summary was accepted:\n{out}")
        stored = Counter(harness.stored_report_ids(url))
        accepted = acked.read_text(encoding="ascii").split()
    ratios = [r / h for r, h in zip(rates["batch 1"], rates["healthz"], strict=True)]
    rows: list[list[object]] = []
    for name in ("healthz", "batch 1"):
        ratio = [1.0] * len(ratios) if name == "healthz" else ratios
        rows.append(
            [
                backend,
                name,
                f"{statistics.median(rates[name]):,.0f}",
                f"{statistics.median(cpu[name]) * 1e6:,.0f}",
                f"{statistics.median(ratio):.2f} ({min(ratio):.2f}-{max(ratio):.2f})",
            ]
        )
    missing = [r for r in accepted if stored[r] == 0]
    doubled = [r for r, n in stored.items() if n > 1]
    # Requests still in flight when wrk stops are stored but never read: stored >= accepted.
    rows.append(
        [
            backend,
            "durable",
            f"accepted {len(accepted):,}",
            f"stored {sum(stored.values()):,}",
            f"missing {len(missing)}, doubled {len(doubled)}",
        ]
    )
    if missing or doubled:
        raise RuntimeError(f"{backend}: {len(missing)} missing, {len(doubled)} doubled")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(harness.BACKENDS))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--devices", type=int, default=64)
    parser.add_argument("--lessons", type=int, default=600)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt install wrk)")
        return 2
    for line in harness.machine_lines():
        print(line)
    print(
        f"run       wrk -t1 -c{args.connections}, {args.seconds:g} s per endpoint and round, "
        f"{args.rounds} round(s), one collector process, {args.devices} devices over "
        f"{args.lessons} lessons"
    )
    rows: list[list[object]] = []
    for backend in args.backends.split(","):
        rows += one_backend(backend, args)
    header = ["backend", "endpoint", "req/s", "collector CPU us/req", "req/s vs healthz"]
    print(harness.table(header, rows))
    print(f"load avg  {harness.load_average()} (1, 5, 15 min) after the run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
