// The decision, as policies/engine.py and policies/catalog.py make it, for the one observation a
// browser extension has: the active tab's host name. Pure: no chrome.* API, no clock (`now` is
// an argument, milliseconds since the epoch). browser/test/vectors.json, generated from the
// Python engine by browser/tools/vectors.py, holds both sides to the same answers.

/**
 * @typedef {{category: string, family: string, signal: "domain"}} Match
 * @typedef {{rule: string, article: string, category: string, family: string, signal: string}} Finding
 * @typedef {{id: string, article: string, categories: string[], permission_lifts: boolean}} Rule
 * @typedef {{domains: Record<string, string>, categories: Record<string, string>,
 *   rules: Record<string, Rule[]>, sampleSeconds: number, graceSeconds: number,
 *   reminder: boolean, statements: Record<string, {nl: string, en: string}>}} Compiled
 * @typedef {{id: string, start: number, end: number, remote?: boolean, cancelled?: boolean,
 *   audience?: string}} Lesson
 * @typedef {{lesson_id: string, categories: string[], granted_at: number,
 *   withdrawn_at: number | null}} Permission
 */

/**
 * The lookup key of a host or a catalog domain: lower case, no trailing dot, no port or path,
 * a leading "www." dropped (policies.catalog.domain_key).
 * @param {string} value
 * @returns {string}
 */
export function domainKey(value) {
  let host = value.trim().toLowerCase().replace(/\.+$/, "");
  host = host.split("/", 1)[0].split(":", 1)[0];
  return host.startsWith("www.") ? host.slice(4) : host;
}

/**
 * "a.web.whatsapp.com" -> itself, "web.whatsapp.com", "whatsapp.com", "com": a catalog domain
 * covers the host and its subdomains, matched on whole labels, never by substring.
 * @param {string} host
 * @returns {string[]}
 */
export function hostSuffixes(host) {
  const labels = domainKey(host).split(".");
  return labels.map((_, i) => labels.slice(i).join("."));
}

/**
 * The parts of a policy document (what the collector's config carries as "policy") that a
 * browser needs: the browser domains of each app family and the rules by scope and category.
 * @param {any} doc
 * @returns {Compiled}
 */
export function compilePolicy(doc) {
  /** @type {Record<string, string>} */
  const domains = {};
  /** @type {Record<string, string>} */
  const categories = {};
  for (const [family, value] of Object.entries(doc.families ?? {})) {
    const fam = /** @type {any} */ (value);
    categories[family] = fam.category;
    for (const domain of fam.browser?.domain ?? []) domains[domainKey(domain)] = family;
  }
  /** @type {Record<string, Rule[]>} */
  const rules = {};
  /** @type {Record<string, {nl: string, en: string}>} */
  const statements = {};
  for (const rule of doc.rules ?? []) {
    if (rule.enabled === false) continue;
    statements[rule.id] = rule.statement;
    for (const scope of rule.applies_to) {
      for (const category of rule.categories ?? []) {
        (rules[`${scope}|${category}`] ??= []).push({
          id: rule.id,
          article: rule.article,
          categories: rule.categories ?? [],
          permission_lifts: Boolean(rule.permission_lifts),
        });
      }
    }
  }
  const settings = doc.settings ?? {};
  return {
    domains,
    categories,
    rules,
    sampleSeconds: settings.sample_seconds ?? 15,
    graceSeconds: settings.grace_seconds ?? 60,
    reminder: settings.browser_reminder === true,
    statements,
  };
}

/**
 * What a tab's host is in catalog terms, or null (policies.engine.classify for DomainSeen).
 * @param {Compiled} compiled
 * @param {string} host
 * @returns {Match | null}
 */
export function classifyHost(compiled, host) {
  for (const suffix of hostSuffixes(host)) {
    if (Object.hasOwn(compiled.domains, suffix)) {
      const family = compiled.domains[suffix];
      return { category: compiled.categories[family], family, signal: "domain" };
    }
  }
  return null;
}

/**
 * The host name of a tab's committed URL, or null for anything that is not a web page
 * (chrome://, file:, the new-tab page). Only the host is kept: path, query and title are
 * never looked at.
 * @param {string | undefined} url
 * @returns {string | null}
 */
export function hostOf(url) {
  if (!url) return null;
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return null;
  return parsed.hostname || null;
}

/**
 * The rule scope at `now`, or null outside the lesson (LessonContext.scope_at).
 * @param {Lesson} lesson
 * @param {number} now
 * @returns {string | null}
 */
export function scopeAt(lesson, now) {
  if (lesson.cancelled || !(lesson.start <= now && now < lesson.end)) return null;
  if (lesson.audience === "staff") return "staff_work_time";
  return lesson.remote ? "remote_lesson" : "lesson";
}

/**
 * @param {Permission} p
 * @param {string} lessonId
 * @param {string} category
 * @param {number} now
 */
function lifts(p, lessonId, category, now) {
  return (
    p.lesson_id === lessonId &&
    p.categories.includes(category) &&
    p.granted_at <= now &&
    (p.withdrawn_at === null || now < p.withdrawn_at)
  );
}

/**
 * @param {Finding} a
 * @param {Finding} b
 */
function compareFindings(a, b) {
  for (const k of /** @type {const} */ (["rule", "article", "category", "family", "signal"])) {
    if (a[k] !== b[k]) return a[k] < b[k] ? -1 : 1;
  }
  return 0;
}

/**
 * The findings at `now` for the hosts seen (policies.engine.evaluate): sorted, each once,
 * empty outside the lesson.
 * @param {Compiled} compiled
 * @param {string[]} hosts
 * @param {Lesson | null} lesson
 * @param {Permission[]} permissions
 * @param {number} now
 * @returns {Finding[]}
 */
export function evaluate(compiled, hosts, lesson, permissions, now) {
  const scope = lesson ? scopeAt(lesson, now) : null;
  if (lesson === null || scope === null) return [];
  /** @type {Map<string, Finding>} */
  const found = new Map();
  for (const host of hosts) {
    const match = classifyHost(compiled, host);
    if (match === null) continue;
    for (const rule of compiled.rules[`${scope}|${match.category}`] ?? []) {
      if (
        rule.permission_lifts &&
        permissions.some((p) => lifts(p, lesson.id, match.category, now))
      ) {
        continue;
      }
      const finding = {
        rule: rule.id,
        article: rule.article,
        category: match.category,
        family: match.family,
        signal: match.signal,
      };
      found.set(JSON.stringify(finding), finding);
    }
  }
  return [...found.values()].sort(compareFindings);
}
