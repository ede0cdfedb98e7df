// Folding samples into one lesson summary, as agent/summary.py does, written once for the
// extension: `step(state, findings, probes, now)` is pure and the state is plain JSON, so it
// lives in chrome.storage between wake-ups of the service worker. Times are milliseconds since
// the epoch; offsets inside the state are whole seconds from the summary's start.
//
// A sample at offset t stands for the `sample_seconds` after it, cut at the lesson's end.
// Samples at most 1.5 intervals apart form one run; a finding seen in consecutive samples is
// one episode; an episode shorter than the grace period is not counted. The summary leaves as
// the wire format of policies/wire.py (`toWire`). browser/test/vectors.json holds the Python
// answers for the same samples.

export const BUCKET_SECONDS = 300;
export const MAX_FINDINGS = 200;

/**
 * @typedef {[number, number, number]} Span  start, end, offset of the last sample
 * @typedef {{seconds: number, episodes: number, first_minute: number, buckets: number[]}} Total
 * @typedef {{report_id: string, lesson_id: string, started_at: number, limit: number,
 *   sample_seconds: number, grace_seconds: number, samples: number, gaps: number,
 *   covered: number, run: Span | null, probes: Record<string, string>,
 *   open: Record<string, Span>, events: string[], totals: Record<string, Total>}} SummaryState
 * @typedef {import("./engine.js").Finding} Finding
 */

/**
 * @param {string} reportId
 * @param {string} lessonId
 * @param {number} lessonEnd
 * @param {number} now
 * @param {{sampleSeconds: number, graceSeconds: number}} timing
 * @returns {SummaryState}
 */
export function start(reportId, lessonId, lessonEnd, now, timing) {
  const started = Math.floor(now / 1000) * 1000;
  return {
    report_id: reportId,
    lesson_id: lessonId,
    started_at: started,
    limit: Math.max(0, Math.trunc((lessonEnd - started) / 1000)),
    sample_seconds: Math.max(1, timing.sampleSeconds),
    grace_seconds: Math.max(0, timing.graceSeconds),
    samples: 0,
    gaps: 0,
    covered: 0,
    run: null,
    probes: {},
    open: {},
    events: [],
    totals: {},
  };
}

/**
 * @param {string | undefined} old
 * @param {string} value
 */
function mergeProbe(old, value) {
  if (old === undefined || old === value) return value;
  return old === "unavailable" || value === "unavailable" ? "unavailable" : "ok";
}

/**
 * @param {Span | null | undefined} span
 * @param {number} t
 * @param {number} interval
 */
function joins(span, t, interval) {
  return span != null && t - span[2] >= 0 && t - span[2] <= Math.floor((interval * 3) / 2);
}

/**
 * @param {Total | undefined} total
 * @param {Span} span
 * @param {number} end
 * @param {boolean} counts
 * @returns {Total | undefined}
 */
function add(total, span, end, counts) {
  const length = Math.min(span[1], end) - span[0];
  if (length <= 0 || !counts) return total;
  const buckets = total ? [...total.buckets] : [];
  let pos = span[0];
  while (pos < span[0] + length) {
    const i = Math.floor(pos / BUCKET_SECONDS);
    const upto = Math.min((i + 1) * BUCKET_SECONDS, span[0] + length);
    while (buckets.length < i + 1) buckets.push(0);
    buckets[i] += upto - pos;
    pos = upto;
  }
  if (!total) {
    return { seconds: length, episodes: 1, first_minute: Math.floor(span[0] / 60), buckets };
  }
  return {
    seconds: total.seconds + length,
    episodes: total.episodes + 1,
    first_minute: total.first_minute,
    buckets,
  };
}

/**
 * @param {SummaryState} state
 * @param {Record<string, Total>} totals
 * @param {string} key
 * @param {Span} span
 * @param {number} end
 */
function close(state, totals, key, span, end) {
  const longEnough = Math.min(span[1], end) - span[0] >= state.grace_seconds;
  const total = add(totals[key], span, end, state.events.includes(key) || longEnough);
  if (total !== undefined) totals[key] = total;
}

/** @param {Finding} f */
function keyOf(f) {
  return [f.rule, f.article, f.category, f.family].join("|");
}

/**
 * The state after one sample at `now`; samples outside the lesson or out of order change
 * nothing.
 * @param {SummaryState} state
 * @param {Finding[]} findings
 * @param {Record<string, string>} probes
 * @param {number} now
 * @returns {SummaryState}
 */
export function step(state, findings, probes, now) {
  const t = Math.trunc((now - state.started_at) / 1000);
  if (t < 0 || t >= state.limit || (state.run !== null && t < state.run[2])) return state;
  const s = state.sample_seconds;
  const end = Math.min(t + s, state.limit);
  let { covered, gaps, run } = state;
  if (run !== null && joins(run, t, s)) {
    run = [run[0], end, t];
  } else {
    if (run !== null) {
      covered += run[1] - run[0];
      gaps += 1;
    }
    run = [t, end, t];
  }
  /** @type {Map<string, Finding>} */
  const seen = new Map(findings.map((f) => [keyOf(f), f]));
  const events = [...state.events];
  for (const [key, f] of seen) {
    if (f.signal === "capture_file" && !events.includes(key)) events.push(key);
  }
  const withEvents = { ...state, events };
  const totals = { ...withEvents.totals };
  /** @type {Record<string, Span>} */
  const stillOpen = {};
  for (const [key, span] of Object.entries(state.open)) {
    if (seen.has(key) && joins(span, t, s)) {
      stillOpen[key] = [span[0], end, t];
    } else {
      close(withEvents, totals, key, span, Math.min(span[1], t));
    }
  }
  for (const key of seen.keys()) {
    if (!(key in stillOpen)) stillOpen[key] = [t, end, t];
  }
  /** @type {Record<string, string>} */
  const merged = { ...state.probes };
  for (const [name, value] of Object.entries(probes)) {
    merged[name] = mergeProbe(state.probes[name], value);
  }
  return {
    ...withEvents,
    samples: state.samples + 1,
    gaps,
    covered,
    run,
    probes: merged,
    open: stillOpen,
    totals,
  };
}

/**
 * "2026-11-24T08:30:00Z": UTC, whole seconds (policies.wire.format_time).
 * @param {number} ms
 */
export function formatTime(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * Python's tuple order for tuples of strings (code unit order, as for ASCII identifiers).
 * @param {string[]} a
 * @param {string[]} b
 */
function compareTuples(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return a.length - b.length;
}

/**
 * The wire summary (policies/wire.py) for everything up to `at`, cut at the lesson's end.
 * @param {SummaryState} state
 * @param {number} at
 * @param {{agentVersion: string, dropped?: number}} meta
 * @returns {Record<string, any>}
 */
export function finish(state, at, meta) {
  const last = state.run ? state.run[2] : 0;
  const cut = Math.max(
    0,
    last,
    Math.min(Math.trunc((at - state.started_at) / 1000), state.limit),
  );
  const covered =
    state.covered + (state.run ? Math.max(0, Math.min(state.run[1], cut) - state.run[0]) : 0);
  const totals = { ...state.totals };
  for (const [key, span] of Object.entries(state.open)) close(state, totals, key, span, cut);
  const width = Math.floor(cut / BUCKET_SECONDS) + 1;
  const keys = Object.keys(totals).sort((a, b) => compareTuples(a.split("|"), b.split("|")));
  let findings = keys
    .filter((key) => totals[key].seconds > 0)
    .map((key) => {
      const [rule, article, category, family] = key.split("|");
      const total = totals[key];
      const buckets = [...total.buckets, ...new Array(width).fill(0)].slice(0, width);
      return {
        rule,
        article,
        category,
        family,
        seconds: total.seconds,
        episodes: total.episodes,
        first_minute: total.first_minute,
        buckets,
      };
    });
  findings = findings.sort((a, b) => b.seconds - a.seconds).slice(0, MAX_FINDINGS);
  findings.sort((a, b) =>
    compareTuples([a.rule, a.category, a.family], [b.rule, b.category, b.family]),
  );
  return {
    report_id: state.report_id,
    lesson_id: state.lesson_id,
    started_at: formatTime(state.started_at),
    ended_at: formatTime(state.started_at + cut * 1000),
    agent_version: meta.agentVersion,
    coverage: {
      seconds_monitored: Math.min(covered, cut),
      samples: state.samples,
      gaps: state.gaps,
      probes: { ...state.probes },
    },
    findings,
    dropped: meta.dropped ?? 0,
  };
}
