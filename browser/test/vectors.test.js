// The JS engine and summary against the answers of the Python code (vectors.json, written by
// browser/tools/vectors.py): the same inputs must give the same classification, findings and
// wire summary, field for field.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { classifyHost, compilePolicy, evaluate } from "../src/engine.js";
import { finish, start, step } from "../src/summary.js";

const vectors = JSON.parse(readFileSync(new URL("./vectors.json", import.meta.url), "utf8"));
/** @type {Record<string, import("../src/engine.js").Compiled>} */
const compiled = Object.fromEntries(
  Object.entries(vectors.policies).map(([name, doc]) => [name, compilePolicy(doc)]),
);

/** @param {any} l */
function lesson(l) {
  return l === null ? null : { ...l, start: Date.parse(l.start), end: Date.parse(l.end) };
}

/** @param {any[]} ps */
function permissions(ps) {
  return ps.map((p) => ({
    ...p,
    granted_at: Date.parse(p.granted_at),
    withdrawn_at: p.withdrawn_at === null ? null : Date.parse(p.withdrawn_at),
  }));
}

test("every host is classified as the Python catalog classifies it", () => {
  assert.ok(vectors.classify.length > 40);
  for (const c of vectors.classify) {
    const got = classifyHost(compiled[c.policy], c.host);
    const want = c.match === null ? null : { ...c.match, signal: "domain" };
    assert.deepEqual(got, want, `${c.policy}: ${JSON.stringify(c.host)}`);
  }
});

test("findings per lesson scope and permission are the Python engine's", () => {
  assert.ok(vectors.evaluate.some((/** @type {any} */ c) => c.findings.length > 0));
  for (const c of vectors.evaluate) {
    const got = evaluate(
      compiled[c.policy],
      c.hosts,
      lesson(c.lesson),
      permissions(c.permissions),
      Date.parse(c.now),
    );
    assert.deepEqual(got, c.findings, JSON.stringify([c.policy, c.lesson, c.permissions, c.now]));
  }
});

test("lesson summaries from the same samples are the agent's, in the wire format", () => {
  assert.ok(vectors.summaries.some((/** @type {any} */ c) => c.summary.findings.length > 0));
  for (const c of vectors.summaries) {
    const l = lesson(c.lesson);
    const perms = permissions(c.permissions);
    let state = start(c.report_id, l.id, l.end, Date.parse(c.started), {
      sampleSeconds: c.sample_seconds,
      graceSeconds: c.grace_seconds,
    });
    for (const [at, host] of c.samples) {
      const now = Date.parse(at);
      const found = evaluate(compiled[c.policy], host ? [host] : [], l, perms, now);
      // Through JSON each time, as the worker keeps the state in chrome.storage.
      state = JSON.parse(JSON.stringify(step(state, found, {}, now)));
    }
    const got = finish(state, Date.parse(c.finish), { agentVersion: c.agent_version });
    assert.deepEqual(got, c.summary, c.name);
  }
});
