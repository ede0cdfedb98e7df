// A lesson in standalone mode through the worker itself: the tab is read during the lesson,
// a finding opens in the running summary, and the school's optional reminder shows the rule's
// statement once when the finding starts (nothing of it is sent).
import assert from "node:assert/strict";
import { test } from "node:test";

import { fakeChrome, fakeCollector } from "../test-support/fakes.js";

/** @param {boolean} reminder */
async function lessonWith(reminder) {
  const now = Date.now();
  const lessons = [
    {
      id: "L1",
      start: new Date(now - 60_000).toISOString(),
      end: new Date(now + 600_000).toISOString(),
      remote: false,
      cancelled: false,
    },
  ];
  const collector = await fakeCollector({ lessons, settings: { browser_reminder: reminder } });
  const fake = fakeChrome({ host: false, base: collector.url, managed: { server: collector.url, code: "C" } });
  globalThis.chrome = /** @type {any} */ (fake.chrome);
  try {
    return await follow(fake, await import(`../src/background.js?reminder=${reminder}`));
  } finally {
    collector.close();
  }
}

/**
 * @param {any} fake
 * @param {any} bg
 */
async function follow(fake, bg) {
  await new Promise((ok) => setTimeout(ok, 50)); // the native host's disconnect
  await bg.settled();
  assert.equal(fake.local.running?.lesson_id, "L1");
  assert.equal(fake.alarms.tick?.periodInMinutes, 0.5);
  fake.tab.url = "https://www.instagram.com/geheim";
  fake.chrome.tabs.onActivated.fire({ tabId: 1 });
  await bg.settled();
  fake.chrome.alarms.onAlarm.fire({ name: "tick" });
  await bg.settled();
  assert.deepEqual(Object.keys(fake.local.running.open), ["a1-social-media|A.1|social_media|instagram"]);
  assert.ok(fake.reads.tabs >= 2);
  assert.ok(!JSON.stringify(fake.local).includes("geheim"), "no path is stored");
  assert.ok(!JSON.stringify(fake.local.running).includes("instagram.com"), "no host is kept");
  return fake.notified;
}

test("during a lesson the finding is recorded, and the reminder shows once when it is on", async () => {
  const shown = await lessonWith(true);
  assert.equal(shown.length, 1);
  assert.match(shown[0].message, /^Tijdens de les geen sociale media/);
  assert.equal(shown[0].title, "reminderTitle");
  assert.deepEqual(await lessonWith(false), [], "off by default: no reminder");
});
