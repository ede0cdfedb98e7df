// The pupil's view: what is checked, when (this lesson and the next, in the school's time
// zone), what is never looked at, and the last summary sent, verbatim. Read-only: the popup
// reads what the worker stored and changes nothing.
import { nextLessons, parseConfig } from "../src/plan.js";

/** @param {string} key @param {string[]} [subs] */
const t = (key, subs) => chrome.i18n.getMessage(key, subs);

for (const el of document.querySelectorAll("[data-msg]")) {
  el.textContent = t(/** @type {HTMLElement} */ (el).dataset.msg ?? "");
}

/** @type {Record<string, any>} */
const stored = await chrome.storage.local.get(["mode", "config", "lastSent", "problem"]);
const modes = { paired: "modePaired", standalone: "modeStandalone" };
/** @type {HTMLElement} */ (document.getElementById("mode")).textContent = t(
  modes[/** @type {"paired" | "standalone"} */ (stored.mode)] ?? "modeUnenrolled",
);
if (stored.problem) {
  const el = /** @type {HTMLElement} */ (document.getElementById("problem"));
  el.textContent = t("problem", [String(stored.problem)]);
  el.hidden = false;
}
const list = /** @type {HTMLElement} */ (document.getElementById("lessons"));
if (stored.config) {
  const config = parseConfig(stored.config.body);
  const zone = config.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
  const fmt = new Intl.DateTimeFormat(chrome.i18n.getUILanguage(), {
    timeZone: zone,
    weekday: "short",
    hour: "2-digit",
    minute: "2-digit",
  });
  const time = new Intl.DateTimeFormat(chrome.i18n.getUILanguage(), {
    timeZone: zone,
    hour: "2-digit",
    minute: "2-digit",
  });
  const now = Date.now();
  for (const lesson of nextLessons(config.lessons, now)) {
    const li = document.createElement("li");
    const range = `${fmt.format(lesson.start)}–${time.format(lesson.end)}`;
    li.textContent = t(lesson.start <= now ? "lessonNow" : "lessonNext", [range]);
    list.append(li);
  }
  /** @type {HTMLElement} */ (document.getElementById("zone")).textContent = t("timezone", [zone]);
}
if (!list.children.length) {
  const li = document.createElement("li");
  li.textContent = t(stored.mode === "paired" ? "pairedLessons" : "noLesson");
  list.append(li);
}
/** @type {HTMLElement} */ (document.getElementById("last")).textContent = stored.lastSent
  ? JSON.stringify(stored.lastSent, null, 1)
  : t("nothingSent");
