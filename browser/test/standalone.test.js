// Standalone mode through the worker itself, with a fake chrome.* and a fake collector on
// loopback: not enrolled while managed storage is empty; enrolled when it arrives; outside a
// lesson no tab is read and the lesson's boundary is an alarm; the config poll sends its ETag.
import assert from "node:assert/strict";
import { test } from "node:test";

import { fakeChrome, fakeCollector } from "../test-support/fakes.js";

test("standalone: waits for managed storage, enrols as chromeos, reads nothing outside a lesson", async () => {
  const start = new Date(Date.now() + 3 * 3600_000);
  const end = new Date(start.getTime() + 50 * 60_000);
  const lessons = [
    { id: "L1", start: start.toISOString(), end: end.toISOString(), remote: false, cancelled: false },
  ];
  // poll_seconds.idle 0: every wake may poll, so the second poll shows the ETag.
  const collector = await fakeCollector({ lessons, pollIdle: 0 });
  const fake = fakeChrome({ host: false, base: collector.url });
  globalThis.chrome = /** @type {any} */ (fake.chrome);
  const bg = await import("../src/background.js");
  await new Promise((ok) => setTimeout(ok, 50)); // the native host's disconnect
  await bg.settled();
  assert.equal(fake.local.mode, "unenrolled");
  assert.deepEqual(collector.requests, []);

  fake.managed.server = collector.url + "/";
  fake.managed.code = "ABCD-EFGH";
  fake.managed.label = "kar-3";
  fake.chrome.storage.onChanged.fire({}, "managed");
  await bg.settled();
  assert.equal(fake.local.mode, "standalone");
  const [enrol, config] = collector.requests;
  assert.equal(enrol.path, "/api/v1/agent/enroll");
  assert.deepEqual(enrol.body, {
    code: "ABCD-EFGH",
    platform: "chromeos",
    agent_version: "0.1.0+browser",
    label: "kar-3",
  });
  assert.equal(config.path, "/api/v1/agent/config");
  assert.equal(config.headers.authorization, "Bearer tok");
  assert.equal(fake.alarms.boundary?.when, start.getTime(), "the lesson start is an alarm");
  assert.equal(fake.alarms.tick, undefined);

  fake.tab.url = "https://www.instagram.com/";
  fake.chrome.tabs.onActivated.fire({ tabId: 1 });
  fake.chrome.windows.onFocusChanged.fire(1);
  fake.chrome.alarms.onAlarm.fire({ name: "contact" });
  await new Promise((ok) => setTimeout(ok, 20)); // the focus debounce
  await bg.settled();
  assert.deepEqual(fake.reads, { tabs: 0, windows: 0, idle: 0 }, "no tab read outside a lesson");
  assert.equal(fake.local.running ?? null, null);
  const polls = collector.requests.filter((/** @type {any} */ r) => r.path === "/api/v1/agent/config");
  assert.ok(polls.length >= 2);
  assert.equal(polls.at(-1)?.headers["if-none-match"], '"etag-1"');
  collector.close();
});
