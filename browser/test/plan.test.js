// The extension's contact windows, next contact, backoff, Retry-After and answer classes
// against the agent's (agent/schedule.py, agent/backoff.py, agent/uploader.py), from the same
// vectors.json.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  backoffDelay,
  classifyStatus,
  contactWindows,
  enqueue,
  nextContact,
  retryAfter,
  OUTBOX_MAX_AGE,
  OUTBOX_MAX_ROWS,
} from "../src/plan.js";

const vectors = JSON.parse(readFileSync(new URL("./vectors.json", import.meta.url), "utf8"));
const plan = vectors.plan[0];

test("contact windows and the next contact are the agent's, in the school's zone", () => {
  let checked = 0;
  for (const c of plan.contact) {
    const lessons = c.lessons.map((/** @type {any} */ l) => ({
      ...l,
      start: Date.parse(l.start),
      end: Date.parse(l.end),
    }));
    const windows = contactWindows(lessons, c.spread_seconds * 1000);
    assert.deepEqual(
      windows,
      c.windows.map((/** @type {string[]} */ w) => w.map(Date.parse)),
    );
    for (const m of c.moments) {
      const last = m.last === null ? null : Date.parse(m.last);
      const got = nextContact(Date.parse(m.moment), windows, c.zone, last);
      assert.equal(new Date(got).toISOString(), m.next, JSON.stringify(m));
      checked += 1;
    }
  }
  assert.ok(checked >= 50);
});

test("backoff, Retry-After and what an answer means are the agent's", () => {
  for (const c of plan.backoff) {
    const got = backoffDelay(c.attempt, () => c.rand) / 1000;
    assert.ok(Math.abs(got - c.seconds) < 1e-9, JSON.stringify(c));
  }
  for (const c of plan.retry_after) {
    const got = retryAfter(c.header, Date.parse(c.now));
    assert.equal(got === null ? null : got / 1000, c.seconds, JSON.stringify(c));
  }
  for (const c of plan.statuses) assert.equal(classifyStatus(c.status), c.outcome, String(c.status));
});

test("the outbox drops the stale and, when full, the oldest summaries, and counts them", () => {
  const now = Date.parse("2026-11-24T09:00:00Z");
  /** @param {number} i @param {number} created */
  const row = (i, created) => ({
    report_id: `r${String(i).padStart(5, "0")}`,
    lesson_id: "L",
    body: {},
    created_at: created,
    due_at: created,
    parked: null,
  });
  const cases = [
    { rows: [], dropped: 0, kept: 1 },
    { rows: [row(1, now - OUTBOX_MAX_AGE - 1), row(2, now - 1000)], dropped: 1, kept: 2 },
    {
      rows: Array.from({ length: OUTBOX_MAX_ROWS }, (_, i) => row(i, now - 1000 + i)),
      dropped: 1,
      kept: OUTBOX_MAX_ROWS,
    },
  ];
  for (const c of cases) {
    const got = enqueue(c.rows, row(99999, now), now);
    assert.equal(got.dropped, c.dropped);
    assert.equal(got.rows.length, c.kept);
    assert.equal(got.rows.at(-1)?.report_id, "r99999");
  }
  const full = enqueue(cases[2].rows, row(99999, now), now);
  assert.ok(!full.rows.some((r) => r.report_id === "r00000"), "the oldest goes first");
});
