// Paired mode through the worker itself, with a fake chrome.* and a fake native host: the
// extension tells the agent only catalog matches, only while the agent says a lesson runs,
// and never talks to the collector.
import assert from "node:assert/strict";
import { test } from "node:test";

import { fakeChrome, fakeCollector } from "../test-support/fakes.js";

test("paired: focus messages only during the agent's lesson, catalog terms only, no collector", async () => {
  const site = await fakeCollector({ lessons: [] }); // serves the bundled policy.json only
  const fake = fakeChrome({
    host: true,
    base: site.url,
    // IT pushed the same settings to every browser: the agent still wins.
    managed: { server: site.url, code: "CODE" },
  });
  globalThis.chrome = /** @type {any} */ (fake.chrome);
  const bg = await import("../src/background.js");
  await bg.settled();
  fake.fromHost({ v: 1, type: "hello", agent: "0.9.0" });
  fake.fromHost({ v: 1, type: "lesson", running: false });
  await bg.settled();
  assert.equal(fake.local.mode, "paired");

  fake.tab.url = "https://www.instagram.com/geheim-pad?q=zoekterm";
  fake.chrome.tabs.onActivated.fire({ tabId: 1 });
  fake.chrome.alarms.onAlarm.fire({ name: "tick" });
  await bg.settled();
  assert.deepEqual(fake.reads, { tabs: 0, windows: 0, idle: 0 }, "no tab read outside a lesson");
  assert.deepEqual(fake.sent, []);

  fake.fromHost({ v: 1, type: "lesson", running: true });
  await bg.settled();
  assert.equal(fake.alarms.tick?.periodInMinutes, 0.5);
  fake.tab.url = "https://school.example.nl/rooster";
  fake.chrome.tabs.onUpdated.fire(1, { status: "complete" }, { active: true });
  await bg.settled();
  fake.chrome.tabs.onActivated.fire({ tabId: 1 }); // no change: nothing new
  await bg.settled();
  fake.chrome.alarms.onAlarm.fire({ name: "tick" }); // every 30 s while the lesson runs
  await bg.settled();
  const instagram = { category: "social_media", app: "instagram" };
  assert.deepEqual(
    fake.sent.map((/** @type {any} */ m) => m.match),
    [instagram, null, null],
  );
  for (const message of fake.sent) {
    assert.deepEqual(Object.keys(message).sort(), ["at", "match", "type", "v"]);
    assert.equal(message.type, "focus");
    assert.match(message.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const text = JSON.stringify(message);
    assert.ok(text.length <= 1024);
    assert.ok(!/instagram\.com|geheim|zoekterm|school\.example/.test(text), text);
  }

  fake.fromHost({ v: 1, type: "lesson", running: false });
  await bg.settled();
  assert.equal(fake.alarms.tick, undefined);
  const reads = { ...fake.reads };
  fake.chrome.tabs.onActivated.fire({ tabId: 1 });
  await bg.settled();
  assert.deepEqual(fake.reads, reads, "no tab read after the lesson");
  assert.deepEqual(
    site.requests.map((/** @type {any} */ r) => r.path).filter((/** @type {string} */ p) => p !== "/policy.json"),
    [],
    "paired: nothing goes to the collector",
  );
  site.close();
});
