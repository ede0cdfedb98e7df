// When the extension on its own (a Chromebook) monitors, polls and sends: the agent's plan
// (agent/schedule.py, agent/uploader.py, agent/backoff.py) with the numbers of
// policies/contact.py, pure, `now` passed in (milliseconds since the epoch). background.js
// gathers what is stored, asks these functions, and acts.

import { compilePolicy } from "./engine.js";

const MINUTE = 60_000;
// policies/contact.py: from CONTACT_LEAD before a school day's first lesson until CONTACT_TAIL
// after its last one's summary may be sent; lessons less than DAY_GAP apart are one day; with
// no lesson ahead, once a school day within SCHOOL_HOURS of the school's zone.
export const CONTACT_LEAD = 30 * MINUTE;
export const CONTACT_TAIL = 30 * MINUTE;
export const DAY_GAP = 6 * 60 * MINUTE;
export const SCHOOL_HOURS = [7, 17];
// agent/schedule.py
export const ENROLMENT_CONTACT = 15 * MINUTE;
export const CONTACT_SESSION = 2 * MINUTE;
export const NO_CONFIG_RETRY = 30_000;
// agent/backoff.py
export const BACKOFF_BASE = 5_000;
export const BACKOFF_CAP = 900_000;
export const MAX_RETRY_AFTER = 24 * 3600_000;
// agent/outbox.py
export const OUTBOX_MAX_ROWS = 2000;
export const OUTBOX_MAX_AGE = 30 * 24 * 3600_000;
// chrome.alarms' shortest period (Chrome 120 and later): the sample interval of the extension.
export const TICK_SECONDS = 30;

/**
 * @typedef {import("./engine.js").Lesson} Lesson
 * @typedef {import("./engine.js").Permission} Permission
 * @typedef {{lessons: Lesson[], permissions: Permission[],
 *   compiled: import("./engine.js").Compiled, timezone: string | null, pollInLesson: number,
 *   pollIdle: number, uploadSpread: number, audience: string}} Config
 * @typedef {{lastPoll: number | null, lastContact: number | null, session: number | null,
 *   uploadDue: number | null, enrolledAt: number | null}} PlanState
 */

/**
 * The stored config body (GET /api/v1/agent/config) as the plan and the engine use it.
 * @param {any} body
 * @returns {Config}
 */
export function parseConfig(body) {
  const audience = body.audience === "staff" ? "staff" : "pupil";
  const compiled = compilePolicy(body.policy);
  return {
    lessons: (body.lessons ?? []).map((/** @type {any} */ l) => ({
      id: String(l.id),
      start: Date.parse(l.start),
      end: Date.parse(l.end),
      remote: Boolean(l.remote),
      cancelled: Boolean(l.cancelled),
      audience,
    })),
    permissions: (body.permissions ?? []).map((/** @type {any} */ p) => ({
      lesson_id: String(p.lesson_id),
      categories: p.categories,
      granted_at: Date.parse(p.granted_at),
      withdrawn_at: p.withdrawn_at ? Date.parse(p.withdrawn_at) : null,
    })),
    compiled,
    timezone: body.school?.timezone ?? null,
    pollInLesson: (body.poll_seconds?.in_lesson ?? 60) * 1000,
    pollIdle: (body.poll_seconds?.idle ?? 900) * 1000,
    uploadSpread: (body.policy?.settings?.upload_delay_max_seconds ?? 120) * 1000,
    audience,
  };
}

/**
 * The lesson running at `now` (cancelled ones never run); the earliest if they overlap.
 * @param {Lesson[]} lessons
 * @param {number} now
 * @returns {Lesson | null}
 */
export function currentLesson(lessons, now) {
  const running = lessons
    .filter((l) => !l.cancelled && l.start <= now && now < l.end)
    .sort((a, b) => a.start - b.start || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return running[0] ?? null;
}

/**
 * The running lesson and the next ones (for the popup).
 * @param {Lesson[]} lessons
 * @param {number} now
 */
export function nextLessons(lessons, now, limit = 2) {
  return lessons
    .filter((l) => !l.cancelled && l.end > now)
    .sort((a, b) => a.start - b.start)
    .slice(0, limit);
}

/**
 * The next lesson start or end after `now`, or null.
 * @param {Lesson[]} lessons
 * @param {number} now
 */
export function nextBoundary(lessons, now) {
  const points = lessons
    .filter((l) => !l.cancelled)
    .flatMap((l) => [l.start, l.end])
    .filter((t) => t > now);
  return points.length ? Math.min(...points) : null;
}

/**
 * One contact window per school day of lessons (agent.schedule.contact_windows).
 * @param {Lesson[]} lessons
 * @param {number} spread
 * @returns {[number, number][]}
 */
export function contactWindows(lessons, spread) {
  /** @type {[number, number][]} */
  const windows = [];
  /** @type {number | null} */
  let lastEnd = null;
  for (const lesson of lessons.filter((l) => !l.cancelled).sort((a, b) => a.start - b.start)) {
    const end = lesson.end + spread + CONTACT_TAIL;
    if (windows.length && lastEnd !== null && lesson.start - lastEnd < DAY_GAP) {
      const last = windows[windows.length - 1];
      windows[windows.length - 1] = [last[0], Math.max(last[1], end)];
    } else {
      windows.push([lesson.start - CONTACT_LEAD, end]);
    }
    lastEnd = Math.max(lastEnd ?? lesson.end, lesson.end);
  }
  return windows;
}

/**
 * The calendar date, weekday (0 = Monday) and hour of `ms` in `zone`.
 * @param {number} ms
 * @param {string} zone
 */
export function zoned(ms, zone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-GB", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    })
      .formatToParts(ms)
      .map((p) => [p.type, p.value]),
  );
  const day = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day));
  const wall =
    day + (Number(parts.hour) * 3600 + Number(parts.minute) * 60 + Number(parts.second)) * 1000;
  return { day, weekday: (new Date(day).getUTCDay() + 6) % 7, hour: Number(parts.hour), wall };
}

/**
 * The instant at which the wall clock of `zone` shows `hour`:00 on the UTC-midnight `day`.
 * @param {number} day
 * @param {number} hour
 * @param {string} zone
 */
function atZoned(day, hour, zone) {
  const wanted = day + hour * 3600_000;
  let guess = wanted;
  for (let i = 0; i < 2; i++) guess += wanted - zoned(guess, zone).wall;
  return guess;
}

/**
 * The first time at or after `moment` when the extension may talk to the collector
 * (agent.schedule.next_contact).
 * @param {number} moment
 * @param {[number, number][]} windows
 * @param {string} zone
 * @param {number | null} lastContact
 */
export function nextContact(moment, windows, zone, lastContact) {
  for (const [start, end] of windows) if (start <= moment && moment < end) return moment;
  const ahead = windows.map(([start]) => start).filter((s) => s > moment);
  const there = zoned(moment, zone);
  const contacted = lastContact === null ? null : zoned(lastContact, zone).day;
  let once;
  if (
    there.weekday < 5 &&
    SCHOOL_HOURS[0] <= there.hour &&
    there.hour < SCHOOL_HOURS[1] &&
    contacted !== there.day
  ) {
    once = moment;
  } else {
    let day = there.day + (there.hour < SCHOOL_HOURS[0] ? 0 : 86_400_000);
    while ((new Date(day).getUTCDay() + 6) % 7 >= 5 || day === contacted) day += 86_400_000;
    once = atZoned(day, SCHOOL_HOURS[0], zone);
  }
  return Math.min(...ahead.slice(0, 1), once);
}

/**
 * What to monitor now, the next boundary, and when the next poll and upload may happen: only
 * in contact windows (agent.schedule.plan).
 * @param {Config | null} config
 * @param {PlanState} state
 * @param {number} now
 * @param {string} deviceZone
 */
export function plan(config, state, now, deviceZone) {
  const lessons = config ? config.lessons : [];
  const lesson = currentLesson(lessons, now);
  const windows = contactWindows(lessons, config ? config.uploadSpread : 120_000);
  if (state.enrolledAt !== null) windows.push([state.enrolledAt, state.enrolledAt + ENROLMENT_CONTACT]);
  if (state.session !== null) windows.push([state.session, state.session + CONTACT_SESSION]);
  windows.sort((a, b) => a[0] - b[0]);
  const zone = config?.timezone || deviceZone;
  const interval = config === null ? NO_CONFIG_RETRY : lesson ? config.pollInLesson : config.pollIdle;
  const wanted = state.lastPoll === null ? now : Math.max(state.lastPoll + interval, now);
  const pollAt = nextContact(wanted, windows, zone, state.lastContact);
  const uploadAt =
    state.uploadDue === null
      ? null
      : nextContact(Math.max(state.uploadDue, now), windows, zone, state.lastContact);
  return { lesson, boundary: nextBoundary(lessons, now), pollAt, uploadAt, zone };
}

/**
 * When the run of contacts that a contact at `now` belongs to began (agent.schedule).
 * @param {number | null} last
 * @param {number | null} began
 * @param {number} now
 */
export function sessionStart(last, began, now) {
  if (last !== null && began !== null && began <= now && now < began + CONTACT_SESSION) {
    return began;
  }
  return now;
}

/**
 * Milliseconds before retry number `attempt`: capped exponential backoff, full jitter.
 * @param {number} attempt
 * @param {() => number} rand
 */
export function backoffDelay(attempt, rand) {
  return rand() * Math.min(BACKOFF_CAP, BACKOFF_BASE * 2 ** Math.min(attempt, 32));
}

/**
 * Milliseconds from a Retry-After header (seconds or an HTTP date), or null.
 * @param {string | null} header
 * @param {number} now
 */
export function retryAfter(header, now) {
  if (!header) return null;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Math.min(Number(value) * 1000, MAX_RETRY_AFTER);
  const when = Date.parse(value);
  if (Number.isNaN(when)) return null;
  return Math.min(Math.max(0, when - now), MAX_RETRY_AFTER);
}

/**
 * What a whole-batch answer means for the summaries in it (agent.uploader.classify).
 * @param {number} status
 * @returns {"done" | "retry" | "unauthorized" | "park"}
 */
export function classifyStatus(status) {
  if (status === 200) return "done";
  if (status === 401) return "unauthorized";
  if (status === 408 || status === 429 || status >= 500) return "retry";
  if (status >= 400 && status < 500) return "park";
  return "retry";
}

/**
 * @typedef {{report_id: string, lesson_id: string, body: Record<string, any>,
 *   created_at: number, due_at: number, parked: string | null}} OutboxRow
 */

/**
 * The outbox after adding `row`: rows older than OUTBOX_MAX_AGE and, when full, the oldest are
 * dropped and counted (agent.outbox).
 * @param {OutboxRow[]} rows
 * @param {OutboxRow} row
 * @param {number} now
 * @returns {{rows: OutboxRow[], dropped: number}}
 */
export function enqueue(rows, row, now) {
  const fresh = rows.filter((r) => r.created_at >= now - OUTBOX_MAX_AGE);
  const excess = Math.max(0, fresh.length + 1 - OUTBOX_MAX_ROWS);
  const kept = [...fresh]
    .sort((a, b) => a.created_at - b.created_at || (a.report_id < b.report_id ? -1 : 1))
    .slice(excess);
  return { rows: [...kept, row], dropped: rows.length - fresh.length + excess };
}
