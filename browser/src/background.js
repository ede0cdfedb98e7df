// The extension's service worker: gathers what is stored and what the browser says, asks the
// pure code (engine.js, summary.js, plan.js) what to do, and acts. Chrome stops the worker
// after 30 s idle, so every listener is registered here at the top level, all state lives in
// chrome.storage, and the lesson boundaries are one-shot alarms rebuilt on every start.
//
// Two modes (docs/browser.md):
// - paired: the lessonwatch agent's native host answers "hello"; the extension only tells it
//   what the active tab is in catalog terms, and the agent's one summary per lesson holds it;
// - standalone (a Chromebook): enrols with the managed `server` and `code`, fetches its config
//   in the school day's contact windows, and sends one summary per lesson itself.
// Outside a lesson nothing is read: an event that wakes the worker returns before any tab is.

import { classifyHost, evaluate, hostOf } from "./engine.js";
import {
  TICK_SECONDS,
  backoffDelay,
  classifyStatus,
  currentLesson,
  enqueue,
  parseConfig,
  plan,
  retryAfter,
  sessionStart,
} from "./plan.js";
import { finish, start, step } from "./summary.js";

export const NATIVE_HOST = "nl.lessonwatch.agent";
const VERSION = chrome.runtime.getManifest().version;
export const AGENT_VERSION = `${VERSION}+browser`;
const TIMEOUT = 15_000;
const HELLO_WAIT = 2_000;
// A host that went away is tried again at most this often (each wake tries otherwise).
const RECONNECT_AFTER = 30_000;
const FOCUS_DEBOUNCE = 500;
// A pupil reading or watching does not type: only a screen locked (or the machine idle this
// long) counts as "not looking at the tab".
const IDLE_SECONDS = 300;

/** @type {chrome.runtime.Port | null} */
let port = null;
/** @type {"unknown" | "connecting" | "paired" | "absent"} */
let hostState = "unknown";
let lastConnect = -Infinity;
let wasPaired = false;
/** @type {Promise<unknown>} */
let chain = Promise.resolve();
/** @type {ReturnType<typeof setTimeout> | null} */
let focusTimer = null;

/**
 * One thing at a time: events arrive together and each reads, changes and writes storage.
 * @param {() => Promise<unknown>} work
 */
function serial(work) {
  chain = chain.then(work).catch((err) => console.error("lessonwatch:", err));
  return chain;
}

/** @param {string[]} keys */
async function load(...keys) {
  return /** @type {Record<string, any>} */ (await chrome.storage.local.get(keys));
}

/** @param {Record<string, unknown>} values */
async function save(values) {
  await chrome.storage.local.set(values);
}

// ---- what the browser shows (read only during a lesson) ---------------------------------

/** The active tab's host in the focused browser window, or null (no focus, idle, locked). */
async function activeHost() {
  const idle = await chrome.idle.queryState(IDLE_SECONDS);
  if (idle !== "active") return null;
  const win = await chrome.windows.getLastFocused({ windowTypes: ["normal", "app", "popup"] });
  if (!win.focused || win.id === undefined) return null;
  const [tab] = await chrome.tabs.query({ active: true, windowId: win.id });
  // tab.url is the committed URL (pendingUrl is where a navigation is going): a link
  // shortener that redirects never commits and is never counted. Only the host is kept.
  return hostOf(tab?.url);
}

// ---- paired mode ------------------------------------------------------------------------

/**
 * Try the agent's native host: "connecting" until it says hello ("paired"), disconnects (no
 * host installed: "absent") or stays silent for HELLO_WAIT ("absent"). Until then the worker
 * decides nothing, so a laptop with the agent never enrols the extension on its own.
 */
function connectHost() {
  const now = Date.now();
  // Once per worker start; again only after a host that was there went away (an agent update).
  const retry = hostState === "absent" && wasPaired && now - lastConnect >= RECONNECT_AFTER;
  if (port || !(hostState === "unknown" || retry)) return;
  lastConnect = now;
  hostState = "connecting";
  try {
    port = chrome.runtime.connectNative(NATIVE_HOST);
  } catch {
    port = null;
    hostState = "absent";
    return;
  }
  const mine = port;
  mine.onMessage.addListener((msg) => {
    if (msg?.v !== 1) return;
    if (msg.type === "hello") {
      hostState = "paired";
      wasPaired = true;
      serial(async () => {
        await save({ mode: "paired", agent: String(msg.agent ?? "").slice(0, 32) });
        await wakeWork("paired");
      });
    } else if (msg.type === "lesson" && hostState === "paired") {
      serial(async () => {
        await save({ pairedLesson: msg.running === true, lastFocus: null });
        await wakeWork("lesson");
      });
    }
  });
  mine.onDisconnect.addListener(() => {
    void chrome.runtime.lastError; // "native messaging host not found": no agent here
    if (port !== mine) return;
    port = null;
    const was = hostState;
    hostState = "absent";
    serial(async () => {
      // The agent went away (or was never there): neither mode until the next start decides.
      if (was === "paired") await save({ mode: null, pairedLesson: false });
      await wakeWork("unpaired");
    });
  });
  setTimeout(() => {
    if (port === mine && hostState === "connecting") {
      hostState = "absent";
      serial(() => wakeWork("no-hello"));
    }
  }, HELLO_WAIT);
}

/**
 * @param {any} compiled
 * @param {number} now
 * @param {boolean} force
 */
async function reportFocus(compiled, now, force) {
  const host = await activeHost();
  const match = host && compiled ? classifyHost(compiled, host) : null;
  const wire = match ? { category: match.category, app: match.family } : null;
  const { lastFocus } = await load("lastFocus");
  const key = JSON.stringify(wire);
  if (!force && lastFocus === key) return;
  const at = new Date(Math.floor(now / 1000) * 1000).toISOString().replace(".000Z", "Z");
  port?.postMessage({ v: 1, type: "focus", at, match: wire });
  await save({ lastFocus: key });
}

// ---- standalone mode --------------------------------------------------------------------

/**
 * @param {string} url
 * @param {RequestInit} init
 */
async function call(url, init) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT);
  try {
    return await fetch(url, { ...init, signal: controller.signal, cache: "no-store" });
  } finally {
    clearTimeout(timer);
  }
}

/** @param {number} now */
async function noteContact(now) {
  const { contact } = await load("contact");
  const session = sessionStart(contact?.last ?? null, contact?.session ?? null, now);
  await save({ contact: { last: now, session } });
}

/**
 * @param {{server: string, code: string, label?: string}} managed
 * @param {number} now
 */
async function enrol(managed, now) {
  const server = managed.server.replace(/\/+$/, "");
  /** @type {Record<string, unknown>} */
  const body = { code: managed.code, platform: "chromeos", agent_version: AGENT_VERSION };
  if (managed.label) body.label = managed.label.slice(0, 64);
  let answer;
  try {
    answer = await call(`${server}/api/v1/agent/enroll`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (err) {
    return retryLater("enrol", now, `collector unreachable (${err})`);
  }
  await noteContact(now);
  if (answer.status !== 201) {
    const outcome = classifyStatus(answer.status);
    if (outcome === "retry") {
      return retryLater("enrol", now, `enrolment answered ${answer.status}`, answer);
    }
    // A refused code stays refused: wait for IT to change the managed settings.
    await save({ problem: `enrolment refused (${answer.status})`, enrolRetry: null });
    return;
  }
  const done = await answer.json();
  await save({
    enrolment: {
      server,
      code: managed.code,
      device_id: done.device_id,
      token: done.token,
      school: done.school,
      group: done.group,
      enrolled_at: now,
    },
    problem: null,
    enrolRetry: null,
  });
}

/**
 * @param {string} what
 * @param {number} now
 * @param {string} reason
 * @param {Response} [answer]
 */
async function retryLater(what, now, reason, answer) {
  const key = `${what}Retry`;
  const stored = (await load(key))[key] ?? { attempt: 0 };
  const wait = Math.max(
    backoffDelay(stored.attempt, Math.random),
    retryAfter(answer?.headers.get("Retry-After") ?? null, now) ?? 0,
  );
  await save({ [key]: { attempt: stored.attempt + 1, until: now + wait }, problem: reason });
}

/**
 * @param {any} enrolment
 * @param {number} now
 */
async function pollConfig(enrolment, now) {
  const { config } = await load("config");
  /** @type {Record<string, string>} */
  const headers = { Authorization: `Bearer ${enrolment.token}` };
  if (config?.etag) headers["If-None-Match"] = config.etag;
  let answer;
  try {
    answer = await call(`${enrolment.server}/api/v1/agent/config`, { headers });
  } catch (err) {
    await save({ lastPoll: now });
    return retryLater("poll", now, `collector unreachable (${err})`);
  }
  await noteContact(now);
  await save({ lastPoll: now });
  if (answer.status === 304) return;
  if (answer.status === 401) {
    await save({ enrolment: null, config: null, problem: "the collector refused this device" });
    return;
  }
  if (answer.status !== 200) return retryLater("poll", now, `config answered ${answer.status}`);
  await save({
    config: { body: await answer.json(), etag: answer.headers.get("ETag") },
    pollRetry: null,
    problem: null,
  });
}

/**
 * @param {any} enrolment
 * @param {number} now
 */
async function upload(enrolment, now) {
  const { outbox = [], uploadRetry } = await load("outbox", "uploadRetry");
  if (uploadRetry?.until > now) return;
  const due = outbox.filter((/** @type {any} */ r) => !r.parked && r.due_at <= now).slice(0, 50);
  if (!due.length) return;
  let answer;
  try {
    answer = await call(`${enrolment.server}/api/v1/agent/reports`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${enrolment.token}` },
      body: JSON.stringify({ reports: due.map((/** @type {any} */ r) => r.body) }),
    });
  } catch (err) {
    return retryLater("upload", now, `collector unreachable (${err})`);
  }
  await noteContact(now);
  const outcome = classifyStatus(answer.status);
  if (outcome === "retry") return retryLater("upload", now, `reports answered ${answer.status}`, answer);
  if (outcome === "unauthorized") {
    await save({ problem: "the collector refused this device's token" });
    return;
  }
  const ids = new Set(due.map((/** @type {any} */ r) => r.report_id));
  if (outcome === "park") {
    const parked = outbox.map((/** @type {any} */ r) =>
      ids.has(r.report_id) ? { ...r, parked: `HTTP ${answer.status}` } : r,
    );
    await save({ outbox: parked });
    return;
  }
  const results = (await answer.json()).results;
  if (!Array.isArray(results) || results.length !== due.length) {
    return retryLater("upload", now, "the answer does not list one result per summary");
  }
  const answered = new Set(
    due
      .filter((/** @type {any} */ _, /** @type {number} */ i) =>
        ["accepted", "duplicate", "rejected"].includes(results[i]?.status),
      )
      .map((/** @type {any} */ r) => r.report_id),
  );
  const sent = due.filter((/** @type {any} */ r) => answered.has(r.report_id));
  const { outbox: latest = [] } = await load("outbox");
  await save({
    outbox: latest.filter((/** @type {any} */ r) => !answered.has(r.report_id)),
    uploadRetry: null,
    problem: null,
    ...(sent.length ? { lastSent: sent[sent.length - 1].body, lastSentAt: now } : {}),
  });
}

/**
 * Close the running summary (at the lesson's end at the latest) and queue it.
 * @param {any} running
 * @param {any} config
 * @param {number} now
 */
async function closeSummary(running, config, now) {
  const { outbox = [], dropped = 0 } = await load("outbox", "dropped");
  const body = finish(running, now, { agentVersion: AGENT_VERSION, dropped });
  const spread = config ? config.uploadSpread : 120_000;
  const end = running.started_at + running.limit * 1000;
  const row = {
    report_id: body.report_id,
    lesson_id: body.lesson_id,
    body,
    created_at: now,
    // Spread over the minutes after the lesson, so a school's devices do not all send at once.
    due_at: Math.max(now, end) + Math.floor(Math.random() * spread),
    parked: null,
  };
  const next = enqueue(outbox, row, now);
  await save({ outbox: next.rows, dropped: dropped + next.dropped, running: null });
}

// ---- one wake-up: gather, decide, act ---------------------------------------------------

/**
 * @param {string} why
 */
async function wakeWork(why) {
  const now = Date.now();
  connectHost();
  if (hostState === "connecting") return; // the hello, or its absence, wakes us again
  const stored = await load("mode", "pairedLesson", "enrolment", "config", "running");
  if (hostState === "paired") {
    await chrome.alarms.clear("boundary");
    await chrome.alarms.clear("contact");
    if (stored.pairedLesson) {
      await chrome.alarms.create("tick", { periodInMinutes: TICK_SECONDS / 60 });
      const { config } = stored;
      const compiled = config ? parseConfig(config.body).compiled : await pairedCatalog();
      await reportFocus(compiled, now, why === "tick" || why === "lesson");
    } else {
      await chrome.alarms.clear("tick");
    }
    return;
  }
  /** @type {any} */
  const managed = await chrome.storage.managed.get(["server", "code", "label"]).catch(() => ({}));
  if (typeof managed.server !== "string" || typeof managed.code !== "string") {
    // Empty managed storage: not configured yet, or policy not loaded yet (it can read empty
    // at start-up); storage.onChanged ("managed") wakes us when it arrives.
    await save({ mode: "unenrolled" });
    await chrome.alarms.clearAll();
    return;
  }
  await save({ mode: "standalone" });
  let { enrolment } = stored;
  const server = managed.server.replace(/\/+$/, "");
  if (enrolment && (enrolment.server !== server || enrolment.code !== managed.code)) {
    // IT pointed the extension elsewhere: a new enrolment, nothing of the old one carried over.
    await save({ enrolment: null, config: null, running: null, outbox: [], lastPoll: null });
    enrolment = null;
  }
  if (!enrolment) {
    const { enrolRetry, problem } = await load("enrolRetry", "problem");
    const refused = typeof problem === "string" && problem.startsWith("enrolment refused");
    if (!refused || why === "managed") {
      if (!(enrolRetry?.until > now)) await enrol(managed, now);
    }
    ({ enrolment } = await load("enrolment"));
    if (!enrolment) return scheduleRetry("enrolRetry");
  }
  let state = await planState(enrolment);
  let config = stored.config ? parseConfig(stored.config.body) : null;
  let decided = plan(config, state, now, Intl.DateTimeFormat().resolvedOptions().timeZone);
  const { pollRetry } = await load("pollRetry");
  if (decided.pollAt <= now && !(pollRetry?.until > now)) {
    await pollConfig(enrolment, now);
    const fresh = await load("config", "enrolment");
    if (!fresh.enrolment) return;
    config = fresh.config ? parseConfig(fresh.config.body) : null;
    state = await planState(enrolment);
    decided = plan(config, state, now, Intl.DateTimeFormat().resolvedOptions().timeZone);
  }
  await followLesson(config, now, why);
  state = await planState(enrolment);
  decided = plan(config, state, now, Intl.DateTimeFormat().resolvedOptions().timeZone);
  if (decided.uploadAt !== null && decided.uploadAt <= now) {
    await upload(enrolment, now);
    state = await planState(enrolment);
    decided = plan(config, state, now, Intl.DateTimeFormat().resolvedOptions().timeZone);
  }
  // The alarms, rebuilt from what is stored: the next lesson boundary, the tick while a lesson
  // runs, the next contact.
  if (decided.boundary !== null) await chrome.alarms.create("boundary", { when: decided.boundary });
  else await chrome.alarms.clear("boundary");
  if (decided.lesson) await chrome.alarms.create("tick", { periodInMinutes: TICK_SECONDS / 60 });
  else await chrome.alarms.clear("tick");
  const { pollRetry: pr, uploadRetry: ur } = await load("pollRetry", "uploadRetry");
  const contact = Math.min(
    Math.max(decided.pollAt, pr?.until ?? 0),
    decided.uploadAt === null ? Infinity : Math.max(decided.uploadAt, ur?.until ?? 0),
  );
  await chrome.alarms.create("contact", { when: Math.max(contact, now + 1000) });
}

/** The catalog in paired mode, where the agent holds the school's config: the shipped policy
 * bundled with the extension (browser/policy.json, written by browser/tools/vectors.py). */
async function pairedCatalog() {
  const doc = await (await fetch(chrome.runtime.getURL("policy.json"))).json();
  return parseConfig({ policy: doc }).compiled;
}

/** @param {string} key */
async function scheduleRetry(key) {
  const retry = (await load(key))[key];
  if (retry?.until) await chrome.alarms.create("contact", { when: retry.until });
}

/**
 * @param {any} enrolment
 * @returns {Promise<import("./plan.js").PlanState>}
 */
async function planState(enrolment) {
  const { lastPoll = null, contact, outbox = [], uploadRetry } = await load(
    "lastPoll",
    "contact",
    "outbox",
    "uploadRetry",
  );
  const due = outbox.filter((/** @type {any} */ r) => !r.parked).map((/** @type {any} */ r) => r.due_at);
  const uploadDue = due.length ? Math.max(Math.min(...due), uploadRetry?.until ?? 0) : null;
  return {
    lastPoll,
    lastContact: contact?.last ?? null,
    session: contact?.session ?? null,
    uploadDue,
    enrolledAt: enrolment.enrolled_at ?? null,
  };
}

/**
 * Start, sample and close the lesson's summary. Outside a lesson no tab is read.
 * @param {import("./plan.js").Config | null} config
 * @param {number} now
 * @param {string} why
 */
async function followLesson(config, now, why) {
  let { running } = await load("running");
  const lesson = config ? currentLesson(config.lessons, now) : null;
  if (running && (!lesson || lesson.id !== running.lesson_id)) {
    await closeSummary(running, config, now);
    running = null;
  }
  if (!lesson || !config) return;
  if (!running) {
    running = start(crypto.randomUUID(), lesson.id, lesson.end, now, {
      sampleSeconds: Math.max(TICK_SECONDS, config.compiled.sampleSeconds),
      graceSeconds: config.compiled.graceSeconds,
    });
  }
  void why;
  const host = await activeHost();
  const findings = evaluate(config.compiled, host ? [host] : [], lesson, config.permissions, now);
  const next = step(running, findings, {}, now);
  await save({ running: next });
  const started = Object.keys(next.open).filter((key) => !(key in running.open));
  if (config.compiled.reminder && started.length) await remind(config.compiled, started);
}

/**
 * The school's optional reminder (policy setting browser_reminder, off by default): the
 * statement of the rule a finding just started under, on this screen only; nothing is sent.
 * @param {import("./engine.js").Compiled} compiled
 * @param {string[]} keys
 */
async function remind(compiled, keys) {
  const rule = keys[0].split("|")[0];
  const statement = compiled.statements[rule];
  if (!statement) return;
  const nl = chrome.i18n.getUILanguage().toLowerCase().startsWith("nl");
  await chrome.notifications.create("lessonwatch-reminder", {
    type: "basic",
    iconUrl: chrome.runtime.getURL("icon.png"),
    title: chrome.i18n.getMessage("reminderTitle"),
    message: nl ? statement.nl : statement.en,
    priority: 0,
  });
}

// ---- listeners, all at the top level ----------------------------------------------------

/** @param {string} why */
export function wake(why) {
  return serial(() => wakeWork(why));
}

/** Resolves once every queued piece of work is done (for tests). */
export async function settled() {
  let seen;
  do {
    seen = chain;
    await seen;
  } while (seen !== chain);
}

chrome.runtime.onStartup.addListener(() => wake("startup"));
chrome.runtime.onInstalled.addListener(() => wake("installed"));
chrome.alarms.onAlarm.addListener((alarm) => wake(alarm.name));
chrome.storage.onChanged.addListener((_changes, area) => {
  if (area === "managed") wake("managed");
});
chrome.tabs.onActivated.addListener(() => wake("tab"));
chrome.tabs.onUpdated.addListener((_id, info, tab) => {
  // Only a committed, finished navigation of the visible tab: redirects are never counted.
  if (info.status === "complete" && tab.active) wake("tab");
});
chrome.windows.onFocusChanged.addListener((windowId) => {
  if (focusTimer) clearTimeout(focusTimer);
  // Some desktops report "no window" for a moment between two browser windows.
  const delay = windowId === chrome.windows.WINDOW_ID_NONE ? FOCUS_DEBOUNCE : 0;
  focusTimer = setTimeout(() => wake("focus"), delay);
});
chrome.idle.setDetectionInterval(IDLE_SECONDS);
chrome.idle.onStateChanged.addListener(() => wake("idle"));
wake("load");
