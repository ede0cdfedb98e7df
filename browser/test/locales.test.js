// Dutch and English say the same things: both locales hold every message the popup, the
// manifest and the worker use.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

const read = (/** @type {string} */ path) => readFileSync(new URL(`../${path}`, import.meta.url), "utf8");

test("every message used is in both the Dutch and the English locale", () => {
  const nl = JSON.parse(read("_locales/nl/messages.json"));
  const en = JSON.parse(read("_locales/en/messages.json"));
  assert.deepEqual(Object.keys(nl).sort(), Object.keys(en).sort());
  const sources = ["popup/popup.html", "popup/popup.js", "src/background.js", "manifest.json"]
    .map(read)
    .join("\n");
  const used = new Set(
    [...sources.matchAll(/data-msg="(\w+)"|\bt\("(\w+)"|getMessage\("(\w+)"|__MSG_(\w+)__/g)].map(
      (m) => m[1] ?? m[2] ?? m[3] ?? m[4],
    ),
  );
  assert.ok(used.size >= 10, [...used].join(" "));
  for (const key of used) {
    assert.ok(nl[key]?.message && en[key]?.message, key);
    if (key !== "name") assert.notEqual(nl[key].message, en[key].message, `${key} is not translated`);
  }
});
