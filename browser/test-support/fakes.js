// A fake of the chrome.* APIs the worker uses (in memory, recording what was read) and a fake
// collector on a real loopback HTTP server, for the node tests of background.js.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";

/** @typedef {(...args: any[]) => unknown} Listener */

function event() {
  /** @type {Listener[]} */
  const listeners = [];
  return {
    listeners,
    /** @param {Listener} fn */
    addListener: (fn) => listeners.push(fn),
    /** @param {any[]} args */
    fire: (...args) => listeners.forEach((fn) => fn(...args)),
  };
}

/**
 * @param {{managed?: Record<string, string>, host?: boolean, base?: string}} options
 * @returns {any}
 */
export function fakeChrome(options) {
  const local = /** @type {Record<string, any>} */ ({});
  const reads = { tabs: 0, windows: 0, idle: 0 };
  /** @type {Record<string, any>} */
  const alarms = {};
  const tab = { url: "https://school.example.nl/les" };
  /** @type {any} */
  let port = null;
  const api = {
    local,
    reads,
    alarms,
    tab,
    /** @type {any[]} */
    sent: [],
    /** @type {any[]} */
    notified: [],
    managed: { ...(options.managed ?? {}) },
    /** @param {any} msg */
    fromHost(msg) {
      port.onMessage.fire(msg);
    },
    chrome: {
      runtime: {
        getManifest: () => ({ version: "0.1.0" }),
        getURL: (/** @type {string} */ path) => `${options.base}/${path}`,
        lastError: undefined,
        onStartup: event(),
        onInstalled: event(),
        connectNative: (/** @type {string} */ name) => {
          port = {
            name,
            onMessage: event(),
            onDisconnect: event(),
            postMessage: (/** @type {any} */ msg) => api.sent.push(msg),
          };
          if (!options.host) {
            // As Chrome does when no host is registered: the port disconnects at once.
            setTimeout(() => port.onDisconnect.fire(), 0);
          }
          return port;
        },
      },
      storage: {
        local: {
          get: async (/** @type {string[]} */ keys) =>
            Object.fromEntries(keys.filter((k) => k in local).map((k) => [k, structuredClone(local[k])])),
          set: async (/** @type {Record<string, any>} */ values) => {
            for (const [k, v] of Object.entries(values)) local[k] = structuredClone(v);
          },
        },
        managed: { get: async () => ({ ...api.managed }) },
        onChanged: event(),
      },
      alarms: {
        create: async (/** @type {string} */ name, /** @type {any} */ info) => {
          alarms[name] = info;
        },
        clear: async (/** @type {string} */ name) => delete alarms[name],
        clearAll: async () => {
          for (const k of Object.keys(alarms)) delete alarms[k];
        },
        onAlarm: event(),
      },
      tabs: {
        query: async () => {
          reads.tabs += 1;
          return [{ ...tab }];
        },
        onActivated: event(),
        onUpdated: event(),
      },
      windows: {
        WINDOW_ID_NONE: -1,
        getLastFocused: async () => {
          reads.windows += 1;
          return { id: 1, focused: true };
        },
        onFocusChanged: event(),
      },
      i18n: {
        getUILanguage: () => "nl",
        getMessage: (/** @type {string} */ key) => key,
      },
      notifications: {
        create: async (/** @type {string} */ id, /** @type {any} */ options) => {
          api.notified.push({ id, ...options });
        },
      },
      idle: {
        queryState: async () => {
          reads.idle += 1;
          return "active";
        },
        setDetectionInterval: () => {},
        onStateChanged: event(),
      },
    },
  };
  return api;
}

/**
 * The collector's agent API as far as the extension uses it, on loopback; records requests.
 * @param {{lessons: any[], pollIdle?: number, settings?: Record<string, unknown>}} config
 * @returns {Promise<any>}
 */
export async function fakeCollector(config) {
  const policy = JSON.parse(readFileSync(new URL("../policy.json", import.meta.url), "utf8"));
  Object.assign(policy.settings, config.settings ?? {});
  /** @type {{method: string, path: string, headers: Record<string, any>, body: any}[]} */
  const requests = [];
  const body = {
    device_id: "dev-1",
    group: "3B",
    audience: "pupil",
    school: { name: "School", timezone: "Europe/Amsterdam" },
    lessons: config.lessons,
    permissions: [],
    policy,
    policy_digest: "x",
    poll_seconds: { in_lesson: 60, idle: config.pollIdle ?? 900 },
  };
  const etag = '"etag-1"';
  const server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      requests.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers, body: raw && JSON.parse(raw) });
      if (req.url === "/policy.json") {
        res.end(JSON.stringify(policy));
      } else if (req.url === "/api/v1/agent/enroll") {
        res.writeHead(201, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ device_id: "dev-1", token: "tok", group: "3B", school: "School" }));
      } else if (req.url === "/api/v1/agent/config") {
        if (req.headers["if-none-match"] === etag) {
          res.writeHead(304, { ETag: etag });
          res.end();
        } else {
          res.writeHead(200, { "Content-Type": "application/json", ETag: etag });
          res.end(JSON.stringify(body));
        }
      } else {
        res.writeHead(404);
        res.end();
      }
    });
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", () => ok(undefined)));
  const address = /** @type {import("node:net").AddressInfo} */ (server.address());
  const close = () => {
    server.closeAllConnections();
    server.close();
  };
  return { url: `http://127.0.0.1:${address.port}`, requests, close };
}
