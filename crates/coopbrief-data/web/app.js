// The Coopbrief web page: sign in with a token, list programmes and reports, request a
// briefing and follow it live, download its PDF, cancel it. Every call is gRPC-Web to the
// same services (and the same access rules) as the command line. Text from the server is
// only ever put into the page as text (textContent / text nodes), never as markup.

import { Client, GrpcError } from "./grpc.js";
import { lang, locale, setLang, t } from "./i18n.js";

const REPORTS = "coopbrief.v1.ReportService";
const COOPERATION = "coopbrief.v1.CooperationService";
const REPORT_STATE = ".coopbrief.v1.ReportState";
const PROGRAMME_STATUS = ".coopbrief.v1.ProgrammeStatus";
const TOKEN = "coopbrief.token";
const PAGE_SIZE = 20;

let client;
/// Aborted when the page changes: a watch or download of the page left stops with it.
let current = new AbortController();

// --- small helpers ---

/// An element; string children become text nodes (never markup).
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "on") {
      for (const [event, handler] of Object.entries(value)) el.addEventListener(event, handler);
    } else if (key === "class") {
      el.className = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function token() {
  return sessionStorage.getItem(TOKEN);
}

function signedIn() {
  return token() !== null;
}

/// The hash route: `#/reports?state=3` → ["/reports", URLSearchParams].
function route() {
  const hash = location.hash.replace(/^#/, "") || "/reports";
  const at = hash.indexOf("?");
  return at < 0 ? [hash, new URLSearchParams()] : [hash.slice(0, at), new URLSearchParams(hash.slice(at + 1))];
}

function go(path, params) {
  const query = params ? params.toString() : "";
  location.hash = query ? `#${path}?${query}` : `#${path}`;
}

function enumKey(type, number, prefix) {
  return client.registry.enumName(type, number).replace(prefix, "");
}

function stateKey(state) {
  return enumKey(REPORT_STATE, state, "REPORT_STATE_");
}

function terminal(report) {
  return ["SUCCEEDED", "FAILED", "CANCELLED"].includes(stateKey(report.state));
}

function localized(text) {
  if (!text) return "";
  return lang() === "en" && text.en ? text.en : text.vi;
}

/// A date and time, day first in both languages: `02/12/2026 08:53:37`.
function when(date) {
  if (!(date instanceof Date)) return "";
  const day = new Intl.DateTimeFormat(locale(), { day: "2-digit", month: "2-digit", year: "numeric" }).format(date);
  const time = new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false }).format(date);
  return `${day} ${time}`;
}

function kib(bytes) {
  return `${new Intl.NumberFormat(locale(), { maximumFractionDigits: 1 }).format(Number(bytes) / 1024)} KiB`;
}

function size(bytes) {
  return `${kib(bytes)} (${new Intl.NumberFormat(locale()).format(Number(bytes))} ${t("unit.bytes")})`;
}

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

function hex(buffer) {
  return [...new Uint8Array(buffer)].map((v) => v.toString(16).padStart(2, "0")).join("");
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new DOMException("aborted", "AbortError"));
    });
  });
}

// --- errors and notices ---

function showError(error) {
  const box = document.getElementById("error");
  if (error?.name === "AbortError") return;
  let title;
  let detail;
  if (error instanceof GrpcError) {
    const known = t(`error.${error.codeName}`);
    title = `${known.startsWith("error.") ? t("error.other") : known} (${error.codeName})`;
    detail = error.message;
    box.dataset.code = error.codeName;
  } else {
    title = t("error.other");
    detail = String(error?.message ?? error);
    box.dataset.code = "CLIENT";
  }
  box.replaceChildren(
    h("strong", {}, title),
    detail ? h("span", { class: "detail" }, detail) : null,
    h("button", { type: "button", class: "link", on: { click: clearError } }, t("error.close")),
  );
  box.hidden = false;
}

function clearError() {
  const box = document.getElementById("error");
  box.hidden = true;
  box.replaceChildren();
  delete box.dataset.code;
}

// --- the frame around every page ---

function renderChrome() {
  document.title = t("app.title");
  document.documentElement.lang = lang();
  const [path] = route();
  const link = (href, key, active) =>
    h("a", { href, class: active ? "active" : null, "aria-current": active ? "page" : null }, t(key));
  const nav = document.getElementById("nav");
  nav.replaceChildren(
    ...(signedIn()
      ? [
          link("#/reports", "nav.reports", path.startsWith("/reports")),
          link("#/programmes", "nav.programmes", path === "/programmes"),
          link("#/new", "nav.new", path === "/new"),
        ]
      : []),
  );
  document.getElementById("tagline").textContent = t("app.tagline");
  const switcher = document.getElementById("lang-switch");
  switcher.textContent = t("lang.switch");
  switcher.lang = lang() === "vi" ? "en" : "vi";
  const out = document.getElementById("sign-out");
  out.textContent = t("signout");
  out.hidden = !signedIn();
}

async function render() {
  current.abort();
  current = new AbortController();
  const signal = current.signal;
  clearError();
  renderChrome();
  const main = document.getElementById("main");
  main.replaceChildren();
  if (!signedIn()) {
    signInPage(main);
    return;
  }
  const [path, params] = route();
  try {
    if (path === "/reports" || path === "/") await reportsPage(main, params, signal);
    else if (path.startsWith("/reports/")) await reportPage(main, decodeURIComponent(path.slice("/reports/".length)), signal);
    else if (path === "/programmes") await programmesPage(main, signal);
    else if (path === "/new") await newReportPage(main, params, signal);
    else main.append(h("p", {}, t("notfound")));
  } catch (e) {
    showError(e);
  }
}

// --- sign in ---

function signInPage(main) {
  const input = h("input", { id: "token", type: "password", autocomplete: "off", spellcheck: "false", placeholder: "cb_…" });
  const button = h("button", { id: "signin-submit", type: "submit" }, t("signin.submit"));
  const form = h(
    "form",
    { class: "card narrow", id: "signin" },
    h("h1", {}, t("signin.title")),
    h("p", { class: "help" }, t("signin.help")),
    h("label", { for: "token" }, t("signin.token")),
    input,
    button,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError();
    const value = input.value.trim();
    button.disabled = true;
    button.textContent = t("signin.checking");
    // The token is checked with a viewer's call; it is kept only if the service takes it.
    const probe = new Client(client.registry, () => value);
    try {
      await probe.unary(COOPERATION, "ListProgrammes", { page_size: 1 });
      sessionStorage.setItem(TOKEN, value);
      if (!location.hash || location.hash === "#/") go("/reports");
      else await render();
    } catch (e) {
      showError(e);
      button.disabled = false;
      button.textContent = t("signin.submit");
    }
  });
  main.append(form);
  input.focus();
}

// --- programmes ---

async function listProgrammes(signal) {
  const answer = await client.unary(COOPERATION, "ListProgrammes", { page_size: 200 }, { signal });
  return answer.programmes;
}

async function programmesPage(main, signal) {
  main.append(h("h1", {}, t("programmes.title")), h("p", { class: "muted" }, t("loading")));
  const programmes = await listProgrammes(signal);
  main.lastChild.remove();
  if (programmes.length === 0) {
    main.append(h("p", {}, t("programmes.empty")));
    return;
  }
  const rows = programmes.map((p) =>
    h(
      "tr",
      {},
      h("td", {}, h("code", {}, p.code)),
      h("td", {}, localized(p.title)),
      h("td", {}, t(`status.${enumKey(PROGRAMME_STATUS, p.status, "PROGRAMME_STATUS_")}`)),
      h(
        "td",
        {},
        h("a", { class: "button small", href: `#/new?${new URLSearchParams({ programme: p.code })}` }, t("programmes.request")),
      ),
    ),
  );
  main.append(
    h(
      "table",
      { id: "programmes" },
      h("thead", {}, h("tr", {}, h("th", {}, t("col.code")), h("th", {}, t("col.title")), h("th", {}, t("col.status")), h("th"))),
      h("tbody", {}, rows),
    ),
  );
}

// --- reports ---

async function reportsPage(main, params, signal) {
  main.append(h("h1", {}, t("reports.title")));
  const programmes = await listProgrammes(signal);
  const programme = h(
    "select",
    { id: "filter-programme", name: "programme" },
    h("option", { value: "" }, t("filter.any")),
    programmes.map((p) => h("option", { value: p.code, selected: p.code === params.get("programme") }, `${p.code} — ${localized(p.short_name) || localized(p.title)}`)),
  );
  const state = h(
    "select",
    { id: "filter-state", name: "state" },
    h("option", { value: "" }, t("filter.any")),
    client.registry
      .enumValues(REPORT_STATE)
      .filter(([n]) => n !== 0)
      .map(([n]) => h("option", { value: n, selected: String(n) === params.get("state") }, t(`state.${stateKey(n)}`))),
  );
  const schedule = h("input", { id: "filter-schedule", name: "schedule", value: params.get("schedule") ?? "", placeholder: "01a2…", spellcheck: "false" });
  const filters = h(
    "form",
    { class: "filters", id: "filters" },
    h("label", {}, t("filter.programme"), programme),
    h("label", {}, t("filter.state"), state),
    h("label", {}, t("filter.schedule"), schedule),
    h("button", { type: "submit" }, t("filter.apply")),
  );
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    if (programme.value) next.set("programme", programme.value);
    if (state.value) next.set("state", state.value);
    if (schedule.value.trim()) next.set("schedule", schedule.value.trim());
    go("/reports", next);
  });
  main.append(filters);

  const answer = await client.unary(
    REPORTS,
    "ListReports",
    {
      programme: params.get("programme") ?? "",
      state: Number(params.get("state") ?? 0),
      schedule: params.get("schedule") ?? "",
      page_size: PAGE_SIZE,
      page_token: params.get("page_token") ?? "",
    },
    { signal },
  );
  if (answer.reports.length === 0) {
    main.append(h("p", { id: "reports-empty" }, t("reports.empty")));
  } else {
    const rows = answer.reports.map((r) =>
      h(
        "tr",
        { "data-id": r.id },
        h("td", {}, h("a", { href: `#/reports/${encodeURIComponent(r.id)}` }, when(r.create_time))),
        h("td", {}, h("code", {}, r.programme)),
        h("td", {}, r.period),
        h("td", {}, r.lang),
        h("td", {}, badge(r.state)),
        h("td", { class: "number" }, r.attempt),
        h("td", { class: "number" }, r.page_count || ""),
      ),
    );
    const heads = ["col.created", "col.programme", "col.period", "col.lang", "col.state", "col.attempt", "col.pages"];
    main.append(
      h(
        "table",
        { id: "reports" },
        h("thead", {}, h("tr", {}, heads.map((k) => h("th", {}, t(k))))),
        h("tbody", {}, rows),
      ),
    );
  }
  const pager = h("nav", { class: "pager" });
  if (params.get("page_token")) {
    const first = new URLSearchParams(params);
    first.delete("page_token");
    pager.append(h("a", { class: "button", href: `#/reports?${first}` }, t("reports.first")));
  }
  if (answer.next_page_token) {
    const next = new URLSearchParams(params);
    next.set("page_token", answer.next_page_token);
    pager.append(h("a", { class: "button", id: "next-page", href: `#/reports?${next}` }, t("reports.next")));
  }
  main.append(pager);
}

function badge(state) {
  const key = stateKey(state);
  return h("span", { class: `state state-${key.toLowerCase()}`, "data-state": key }, t(`state.${key}`));
}

async function newReportPage(main, params, signal) {
  main.append(h("h1", {}, t("new.title")));
  const programmes = await listProgrammes(signal);
  const wanted = params.get("programme");
  const programme = h(
    "select",
    { id: "new-programme", required: true },
    programmes.map((p) => h("option", { value: p.code, selected: p.code === wanted }, `${p.code} — ${localized(p.title)}`)),
  );
  const period = h("input", { id: "new-period", required: true, placeholder: "2019", spellcheck: "false", "aria-describedby": "period-help" });
  const reportLang = h(
    "select",
    { id: "new-lang" },
    h("option", { value: "vi", selected: lang() === "vi" }, t("lang.vi")),
    h("option", { value: "en", selected: lang() === "en" }, t("lang.en")),
  );
  const submit = h("button", { id: "new-submit", type: "submit" }, t("new.submit"));
  const form = h(
    "form",
    { class: "card narrow", id: "new-report" },
    h("label", { for: "new-programme" }, t("new.programme")),
    programme,
    h("label", { for: "new-period" }, t("new.period")),
    period,
    h("p", { class: "help", id: "period-help" }, t("new.period.help")),
    h("label", { for: "new-lang" }, t("new.lang")),
    reportLang,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError();
    submit.disabled = true;
    submit.textContent = t("new.sending");
    try {
      const report = await client.unary(REPORTS, "CreateReport", {
        programme: programme.value,
        period: period.value.trim(),
        lang: reportLang.value,
        request_id: uuid(),
      });
      go(`/reports/${encodeURIComponent(report.id)}`);
    } catch (e) {
      showError(e);
      submit.disabled = false;
      submit.textContent = t("new.submit");
    }
  });
  main.append(form);
}

// --- one report, followed live ---

async function reportPage(main, id, signal) {
  const view = h("section", { id: "report" }, h("p", { class: "muted" }, t("loading")));
  const live = h("p", { id: "live", class: "live" });
  const notice = h("p", { id: "notice", class: "notice", role: "status" });
  main.append(h("p", {}, h("a", { href: "#/reports" }, t("report.back"))), view, live, notice);
  let report = await client.unary(REPORTS, "GetReport", { id }, { signal });
  let shown = "";
  const update = (next) => {
    report = next;
    // Drawn again only when something shown changed (a watch may repeat the current state).
    const key = [next.state, next.attempt, next.update_time?.getTime(), next.error, next.issued?.number].join("|");
    if (key === shown) return;
    shown = key;
    view.replaceChildren(...reportView(report, notice, signal));
    if (terminal(report)) {
      live.textContent = t("report.final");
      live.className = "live done";
    }
  };
  update(report);
  if (terminal(report)) return;
  live.textContent = t("report.live");
  try {
    for await (const next of client.stream(REPORTS, "WatchReport", { id }, { signal })) update(next);
    return;
  } catch (e) {
    // A service without WatchReport yet: ask again every second instead.
    if (!(e instanceof GrpcError && e.code === 12)) throw e;
  }
  live.textContent = t("report.polling");
  while (!terminal(report)) {
    await sleep(1000, signal);
    update(await client.unary(REPORTS, "GetReport", { id }, { signal }));
  }
}

function reportView(r, notice, signal) {
  const key = stateKey(r.state);
  const facts = [
    ["report.state", badge(r.state), "report-state"],
    ["report.attempt", String(r.attempt), "report-attempt"],
    ["report.id", h("code", {}, r.id)],
    ["report.programme", h("code", {}, r.programme)],
    ["report.period", r.period],
    ["report.lang", t(`lang.${r.lang}`)],
    ["report.created", when(r.create_time)],
    ["report.updated", when(r.update_time)],
  ];
  if (r.schedule) facts.push(["report.schedule", h("code", {}, r.schedule)]);
  if (r.error) facts.push(["report.error", h("span", { class: "failure" }, r.error), "report-error"]);
  if (r.data_hash) facts.push(["report.data_hash", h("code", { class: "hash" }, r.data_hash)]);
  if (r.template_version) facts.push(["report.template", r.template_version]);
  if (r.page_count) facts.push(["report.pages", String(r.page_count)]);
  if (r.byte_size) facts.push(["report.size", size(r.byte_size)]);
  if (r.sha256) facts.push(["report.sha256", h("code", { class: "hash" }, r.sha256), "report-sha256"]);
  const issued = r.issued && r.issued.number ? r.issued : null;
  if (issued) {
    facts.push(["report.issued_number", issued.number, "report-number"]);
    facts.push(["report.issued_date", issued.issue_date]);
    facts.push(["report.signer", issued.signer]);
    facts.push(["report.issued_sha256", h("code", { class: "hash" }, issued.sha256)]);
  }
  const list = h(
    "dl",
    { class: "facts" },
    facts.map(([label, value, id]) => [h("dt", {}, t(label)), h("dd", { id }, value)]),
  );
  const actions = h("div", { class: "actions" });
  if (key === "SUCCEEDED") {
    actions.append(downloadButton(r, false, notice, signal));
    if (issued) actions.append(downloadButton(r, true, notice, signal));
  }
  if (key === "QUEUED" || key === "RUNNING") {
    const cancel = h("button", { id: "cancel", type: "button", class: "danger" }, t("report.cancel"));
    cancel.addEventListener("click", async () => {
      clearError();
      cancel.disabled = true;
      try {
        await client.unary(REPORTS, "CancelReport", { id: r.id }, { signal });
        notice.textContent = t("report.cancelled");
      } catch (e) {
        showError(e);
      } finally {
        cancel.disabled = false;
      }
    });
    actions.append(cancel);
  }
  return [h("h1", {}, t("report.title", r.programme, r.period)), list, actions];
}

function downloadButton(report, issued, notice, signal) {
  const label = issued ? "report.download_issued" : "report.download";
  const button = h("button", { id: issued ? "download-issued" : "download", type: "button" }, t(label));
  button.addEventListener("click", async () => {
    clearError();
    button.disabled = true;
    notice.textContent = t("report.downloading");
    try {
      await download(report, issued, notice, signal);
    } catch (e) {
      notice.textContent = "";
      showError(e);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/// DownloadReport's stream into a Blob, checked against the report's SHA-256 (where the
/// browser offers SubtleCrypto: https or localhost), saved as `<programme>-<period>.pdf`.
async function download(report, issued, notice, signal) {
  let meta = report;
  const chunks = [];
  for await (const part of client.stream(REPORTS, "DownloadReport", { id: report.id, issued }, { signal })) {
    if (part.report) meta = part.report;
    if (part.data.length) chunks.push(part.data);
  }
  const blob = new Blob(chunks, { type: "application/pdf" });
  const expected = issued ? meta.issued?.sha256 : meta.sha256;
  let checked = false;
  if (globalThis.crypto?.subtle && expected) {
    const actual = hex(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
    if (actual !== expected) {
      notice.textContent = t("report.sha_mismatch");
      return;
    }
    checked = true;
  }
  const safe = (s) => s.replace(/[^A-Za-z0-9._-]+/g, "_");
  const name = `${safe(meta.programme)}-${safe(meta.period)}${issued ? "-issued" : ""}.pdf`;
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  notice.textContent = t(checked ? "report.downloaded" : "report.downloaded_unchecked", name, kib(blob.size));
}

// --- start ---

async function start() {
  setLang(lang());
  document.getElementById("lang-switch").addEventListener("click", () => {
    setLang(lang() === "vi" ? "en" : "vi");
    render();
  });
  document.getElementById("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN);
    go("/reports");
    render();
  });
  try {
    client = await Client.load(token);
  } catch (e) {
    renderChrome();
    showError(e);
    return;
  }
  window.addEventListener("hashchange", render);
  await render();
}

start();
