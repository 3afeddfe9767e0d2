// The Rapport web console: a dashboard of CX metrics, the customer-360 page and the ticket
// page, drawn from the server's own API (docs/api.md) and kept current by its change feed.
// Vanilla JS, no build step; charts by the vendored Chart.js. docs/console.md.
"use strict";

const DAY_MS = 86400000;
const CHANNEL_COLORS = ["#1f5fbf", "#e07b00", "#2e8b57", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d", "#d35400", "#2c3e50"];
const WEEKS_MAX = 26;        // weekly charts ask one report per week
const REFRESH_AFTER_MS = 2000; // live updates refresh a page at most this often
const TIMELINE_PAGE = 20;

const state = {
  token: sessionStorage.getItem("rapport-token") || "",
  charts: [],
  route: null,
  refreshTimer: null,
  customerId: null,
  lastEventId: null,
};

// ---------------------------------------------------------------------------------------
// API

class ApiError extends Error {
  constructor(status, problem) {
    super(problem && problem.detail ? problem.detail : "HTTP " + status);
    this.status = status;
    this.problem = problem;
  }
}

function headers(extra) {
  const h = Object.assign({ "accept": "application/json" }, extra || {});
  if (state.token) h["authorization"] = "Bearer " + state.token;
  return h;
}

async function api(path, options) {
  options = options || {};
  const response = await fetch(path, { method: options.method || "GET", body: options.body, headers: headers(options.headers) });
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = null; }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    for (const v of Array.isArray(value) ? value : [value]) search.append(name, v);
  }
  const text = search.toString();
  return text ? "?" + text : "";
}

// ---------------------------------------------------------------------------------------
// Small DOM helpers

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function status(message, isError) {
  const node = document.getElementById("status");
  node.textContent = message || "";
  node.className = isError ? "error" : "";
}

function fmt(value, digits) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(digits === undefined ? 1 : digits);
  return String(value);
}

function when(text) {
  if (!text) return "–";
  const date = new Date(text);
  return isNaN(date) ? text : date.toISOString().replace("T", " ").replace(/:\d\d\.\d+Z$/, " UTC").replace(/:\d\dZ$/, " UTC");
}

function identityText(identity) {
  if (!identity) return "–";
  if (typeof identity === "string") return identity;
  return identity.kind + ":" + identity.value;
}

function ticketLink(id) {
  return el("a", { href: "#/ticket/" + encodeURIComponent(id), "data-ticket": id }, id);
}

function facts(pairs) {
  return el("dl", { class: "facts" }, pairs.map(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
}

function dateOnly(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

function mondayOf(ms) {
  const day = new Date(ms).getUTCDay(); // 0 = Sunday
  const back = (day + 6) % 7;
  return Math.floor(ms / DAY_MS) * DAY_MS - back * DAY_MS;
}

// ---------------------------------------------------------------------------------------
// Charts, each with a data table (the accessible form, and what the browser test reads)

function destroyCharts() {
  for (const chart of state.charts) chart.destroy();
  state.charts = [];
}

// A card with a heading, a chart and its table. `series`: [{label, values, stack?, color?,
// axis?, type?}], `labels`: the x values. `onPick(seriesIndex, labelIndex)` for drill-down.
function chartCard(id, title, description, kind, labels, series, options) {
  options = options || {};
  const canvas = el("canvas", { role: "img", "aria-label": title + ": " + description });
  const table = el("table", { "data-chart": id },
    el("caption", { class: "note" }, title),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, options.labelName || "period"),
      series.map((s) => el("th", { scope: "col", class: "num" }, s.label)))),
    el("tbody", {}, labels.map((label, li) => el("tr", {},
      el("th", { scope: "row" }, label),
      series.map((s, si) => {
        const value = s.values[li];
        const cell = el("td", { class: "num", "data-series": s.label, "data-label": label, "data-value": value === null || value === undefined ? "" : String(value) });
        if (options.onPick && value) {
          cell.append(el("button", { class: "secondary", type: "button", "aria-label": "tickets behind " + s.label + " " + label, onclick: () => options.onPick(si, li) }, fmt(value)));
        } else {
          cell.textContent = fmt(value);
        }
        return cell;
      })))));
  const card = el("section", { class: "card" + (options.wide ? " wide" : ""), id: id, "aria-labelledby": id + "-title" },
    el("h2", { id: id + "-title" }, title),
    el("p", { class: "note" }, description),
    el("div", { class: "chart-box" }, canvas),
    el("details", { class: "data" }, el("summary", {}, "Show as table"), el("div", {}, table)));
  const scales = { x: { stacked: kind === "bar" && series.some((s) => s.stack) } };
  scales.y = { beginAtZero: true, stacked: kind === "bar" && series.some((s) => s.stack) };
  if (series.some((s) => s.axis === "right")) scales.right = { position: "right", beginAtZero: true, grid: { drawOnChartArea: false } };
  if (options.percent) scales.y.max = 100;
  const chart = new Chart(canvas, {
    type: kind,
    data: {
      labels: labels,
      datasets: series.map((s, i) => ({
        label: s.label,
        data: s.values,
        stack: s.stack,
        type: s.type,
        yAxisID: s.axis === "right" ? "right" : "y",
        backgroundColor: s.color || CHANNEL_COLORS[i % CHANNEL_COLORS.length],
        borderColor: s.color || CHANNEL_COLORS[i % CHANNEL_COLORS.length],
        spanGaps: true,
      })),
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: scales,
      plugins: { legend: { position: "bottom" } },
      onClick: options.onPick ? (_event, elements) => {
        if (elements.length) options.onPick(elements[0].datasetIndex, elements[0].index);
      } : undefined,
    },
  });
  state.charts.push(chart);
  return card;
}

// ---------------------------------------------------------------------------------------
// Dashboard

async function dashboard(params) {
  const view = document.getElementById("view");
  const overall = await api("/v1/metrics");
  const latest = overall.now ? Date.parse(overall.now) : Date.now();
  const to = params.get("to") || dateOnly(Math.floor(latest / DAY_MS) * DAY_MS + DAY_MS);
  const from = params.get("from") || dateOnly(mondayOf(Date.parse(to) - 8 * 7 * DAY_MS));
  const period = params.get("period") === "day" ? "day" : "week";
  const split = params.get("split") !== "none";

  const controls = el("form", { class: "controls", id: "dashboard-controls", "aria-label": "Period and grouping" },
    el("label", {}, "From", el("input", { type: "date", name: "from", value: from })),
    el("label", {}, "To (exclusive)", el("input", { type: "date", name: "to", value: to })),
    el("label", {}, "Per", el("select", { name: "period" },
      el("option", { value: "week", selected: period === "week" }, "week"),
      el("option", { value: "day", selected: period === "day" }, "day"))),
    el("label", {}, "Group by", el("select", { name: "split" },
      el("option", { value: "channel", selected: split }, "channel"),
      el("option", { value: "none", selected: !split }, "nothing"))),
    el("button", { type: "submit" }, "Show"));
  controls.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(controls);
    location.hash = "#/" + query({ from: data.get("from"), to: data.get("to"), period: data.get("period"), split: data.get("split") });
  });

  const [grouped, total] = await Promise.all([
    api("/v1/metrics" + query({ from, to, group_by: split ? "channel" : undefined })),
    api("/v1/metrics" + query({ from, to })),
  ]);
  const weeks = [];
  for (let w = mondayOf(Date.parse(from)); w < Date.parse(to) && weeks.length < WEEKS_MAX; w += 7 * DAY_MS) weeks.push(w);
  const weekly = await Promise.all(weeks.map((w) =>
    api("/v1/metrics" + query({ from: dateOnly(Math.max(w, Date.parse(from))), to: dateOnly(Math.min(w + 7 * DAY_MS, Date.parse(to))) }))));

  destroyCharts();
  view.replaceChildren(el("h2", { class: "page" }, "Dashboard"), controls);
  const grid = el("div", { class: "grid" });
  view.append(grid);

  // Tickets created and solved, per period, by channel.
  const trendKey = period === "day" ? "daily" : "weekly";
  const labels = [...new Set(grouped.groups.flatMap((g) => g[trendKey].map((t) => t.period)))].sort();
  const series = [];
  for (const [i, group] of grouped.groups.entries()) {
    const byPeriod = new Map(group[trendKey].map((t) => [t.period, t]));
    const color = CHANNEL_COLORS[i % CHANNEL_COLORS.length];
    series.push({ label: "created " + group.key, group: group.key, measure: "created", stack: "created", color, values: labels.map((l) => (byPeriod.get(l) || {}).created || 0) });
    series.push({ label: "solved " + group.key, group: group.key, measure: "solved", stack: "solved", color: color + "99", values: labels.map((l) => (byPeriod.get(l) || {}).solved || 0) });
  }
  const drillBox = el("section", { class: "card wide", id: "drill", "aria-live": "polite", hidden: true });
  const pick = async (si, li) => {
    const s = series[si];
    const report = await api("/v1/metrics" + query({ from, to, group_by: split ? "channel" : undefined, drill: "true" }));
    const group = report.groups.find((g) => g.key === s.group);
    const entry = group && group[trendKey].find((t) => t.period === labels[li]);
    const tickets = entry ? entry[s.measure].tickets : [];
    drillBox.hidden = false;
    drillBox.replaceChildren(
      el("h2", { id: "drill-title" }, "Tickets " + s.measure + " " + labels[li] + (split ? " on " + s.group : "") + " (" + tickets.length + ")"),
      el("ul", { "data-drill": s.label + " " + labels[li] }, tickets.map((id) => el("li", {}, ticketLink(id)))));
    drillBox.querySelector("a, h2").focus && drillBox.scrollIntoView({ block: "nearest" });
  };
  grid.append(chartCard("chart-volume", "Tickets created and solved per " + period + (split ? " by channel" : ""),
    "bars: tickets created (left stack) and solved (right stack) in each " + period + "; click a bar or a table number for its tickets",
    "bar", labels, series, { onPick: pick, wide: true }));
  grid.append(drillBox);

  // Backlog at the end of each day.
  const backlog = (total.groups[0] || { backlog: [] }).backlog;
  grid.append(chartCard("chart-backlog", "Backlog at the end of each day", "unsolved tickets at the end of each day", "line",
    backlog.map((b) => b.day), [{ label: "unsolved", values: backlog.map((b) => b.unsolved) }], { labelName: "day" }));

  // SLA attainment and response rates per week.
  const weekLabels = weeks.map((w) => "week of " + dateOnly(w));
  const first = (report) => report.groups[0] || null;
  const percent = (v) => (v === null || v === undefined ? null : Math.round(v * 1000) / 10);
  const slaSeries = ["first_reply", "next_reply", "resolution"].map((target) => ({
    label: "SLA " + target.replace("_", " ") + " %",
    values: weekly.map((r) => (first(r) ? first(r).sla[target].percent_achieved : null)),
  }));
  const within = (first(total) ? first(total).response_rates : []).map((r) => r.within_hours);
  const responseSeries = within.map((hours) => ({
    label: "replied within " + hours + " h %",
    values: weekly.map((r) => {
      const rate = first(r) && first(r).response_rates.find((x) => x.within_hours === hours);
      return rate ? percent(rate.share) : null;
    }),
  }));
  grid.append(chartCard("chart-sla", "SLA attainment and response rates per week",
    "percent of SLA targets achieved, and of tickets with a first reply within 3, 6, 16 and 24 hours, per week",
    "line", weekLabels, slaSeries.concat(responseSeries), { percent: true, labelName: "week", wide: true }));

  // CSAT, NPS and CES per week.
  const sat = (key) => weekly.map((r) => (first(r) ? first(r).satisfaction[key] : null));
  grid.append(chartCard("chart-satisfaction", "CSAT, NPS and CES per week",
    "CSAT: percent satisfied; NPS: promoters minus detractors (-100 to 100); CES: mean effort score (right axis)",
    "line", weekLabels, [
      { label: "CSAT %", values: sat("csat_percent").map((v) => (v === null ? null : Math.round(v * 10) / 10)) },
      { label: "NPS", values: sat("nps").map((v) => (v === null ? null : Math.round(v * 10) / 10)) },
      { label: "CES", values: sat("ces_mean").map((v) => (v === null ? null : Math.round(v * 100) / 100)), axis: "right" },
    ], { labelName: "week" }));

  // IQS, once QA reviews exist.
  const qa = total.qa || {};
  if (qa.reviews) {
    const months = Object.keys(qa.by_month || {}).sort();
    grid.append(chartCard("chart-iqs", "Internal quality score (IQS) per month", "mean QA score of reviewed tickets, percent", "bar",
      months, [{ label: "IQS %", values: months.map((m) => { const v = qa.by_month[m].iqs; return v === null || v === undefined ? null : Math.round(v * 10) / 10; }) }], { labelName: "month" }));
  } else {
    grid.append(el("section", { class: "card", id: "chart-iqs" }, el("h2", {}, "Internal quality score (IQS)"),
      el("p", { class: "note" }, "No QA reviews in this period: the IQS chart appears once tickets are reviewed.")));
  }
  document.body.dataset.ready = "dashboard";
}

// ---------------------------------------------------------------------------------------
// Customer page

async function customerPage(key, params) {
  const view = document.getElementById("view");
  const offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);
  const path = "/v1/customers/" + encodeURIComponent(key);
  const [customer, timeline] = await Promise.all([
    api(path),
    api(path + "/timeline" + query({ offset, limit: TIMELINE_PAGE })),
  ]);
  state.customerId = customer.customer_id;
  destroyCharts();
  const clv = customer.clv;
  const clvText = !clv ? "no prediction (no orders)" : clv.error ? "not available: " + clv.error :
    "CLV " + fmt(clv.clv, 0) + " " + (customer.reporting_currency || "") + ", P(alive) " + fmt(clv.p_alive * 100, 1) + " %, expected purchases " + fmt(clv.expected_purchases, 2);

  const identities = el("fieldset", {}, el("legend", {}, "Identities"),
    customer.identities.map((identity, i) => el("div", {},
      el("input", { type: "checkbox", id: "identity-" + i, value: identity, name: "identity" }),
      el("label", { for: "identity-" + i, "data-identity": identity }, " " + identity))));
  const split = el("form", { id: "split-form", "aria-label": "Split identities into a new customer" }, identities,
    el("button", { type: "submit", class: "danger" }, "Split selected identities (admin)"));
  split.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = [...split.querySelectorAll("input[name=identity]:checked")].map((x) => x.value);
    if (!chosen.length) { status("Choose the identities to split off first."); return; }
    if (!confirm("Move " + chosen.join(", ") + " and what came through them to a new customer?")) return;
    try {
      const answer = await api(path + "/split", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ identities: chosen }) });
      status("Split: the identities now belong to " + answer.new_customer_id + ".");
      location.hash = "#/customer/" + encodeURIComponent(answer.customer_id);
    } catch (error) {
      status("Split refused: " + error.message, true);
    }
  });

  const orders = customer.orders || { count: 0, totals: [] };
  const ratings = (customer.ratings && customer.ratings.answers) || [];
  const page = el("div", { class: "grid" },
    el("section", { class: "card" }, el("h2", {}, "Customer"), facts([
      ["customer id", el("span", { id: "customer-id" }, customer.customer_id)],
      ["first seen", when(customer.first_seen)],
      ["last seen", when(customer.last_seen)],
      ["merged from", customer.merged_from.length ? customer.merged_from.join(", ") : "–"],
      ["split from", customer.split_from || "–"],
      ["erased", customer.erased_at ? when(customer.erased_at) : "no"],
      ["traits", Object.entries(customer.traits || {}).map(([k, v]) => k + "=" + v).join(", ") || "–"],
      ["CLV", el("span", { id: "customer-clv" }, clvText)],
      ["RFM", customer.rfm ? "recency " + customer.rfm.recency_days + " d, frequency " + customer.rfm.frequency + ", monetary " + fmt(customer.rfm.monetary, 2) : "–"],
    ]), split),
    el("section", { class: "card" }, el("h2", {}, "Channels and tickets"),
      el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "channel"), el("th", { class: "num" }, "messages"))),
        el("tbody", {}, Object.entries(customer.channels).map(([c, n]) => el("tr", {}, el("td", {}, c), el("td", { class: "num" }, n))))),
      el("h3", {}, "Tickets (" + customer.tickets.total + ", " + customer.tickets.open + " open)"),
      el("ul", { id: "customer-tickets" }, customer.tickets.ids.map((id) => el("li", {}, ticketLink(id), customer.tickets.open_ids.includes(id) ? el("span", { class: "tag" }, "open") : null))),
      el("h3", {}, "Orders (" + orders.count + ")"),
      orders.totals.length ? el("table", {}, el("thead", {}, el("tr", {}, ["currency", "orders", "gross", "refunded", "net"].map((h) => el("th", { class: h === "currency" ? "" : "num" }, h)))),
        el("tbody", {}, orders.totals.map((t) => el("tr", {}, el("td", {}, t.currency), el("td", { class: "num" }, t.count), el("td", { class: "num" }, t.gross), el("td", { class: "num" }, t.refunded), el("td", { class: "num" }, t.net))))) : el("p", { class: "note" }, "No orders."),
      el("h3", {}, "Ratings (" + ratings.length + ")"),
      ratings.length ? el("ul", {}, ratings.map((r) => el("li", {}, r.survey.toUpperCase() + " " + r.score + " on " + when(r.at) + (r.comment ? ": " + r.comment : "")))) : el("p", { class: "note" }, "No ratings.")),
    el("section", { class: "card wide", id: "timeline" }, el("h2", {}, "Timeline (" + customer.timeline_events + " events)"),
      el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "when"), el("th", {}, "event"), el("th", {}, "details"))),
        el("tbody", {}, timeline.entries.map((e) => el("tr", { "data-position": e.position }, el("td", {}, when(e.at)), el("td", {}, e.type),
          el("td", {}, e.fields.ticket_id ? ticketLink(e.fields.ticket_id) : null, " ", e.fields.body || e.fields.channel || e.fields.order_id || ""))))),
      el("div", { class: "pager" },
        el("button", { type: "button", class: "secondary", disabled: offset === 0, onclick: () => { location.hash = "#/customer/" + encodeURIComponent(key) + query({ offset: Math.max(0, offset - TIMELINE_PAGE) }); } }, "Previous"),
        el("span", {}, "events " + (timeline.entries.length ? offset + 1 : 0) + "–" + (offset + timeline.entries.length) + " of " + customer.timeline_events),
        el("button", { type: "button", class: "secondary", disabled: timeline.next_offset === null || timeline.next_offset === undefined, onclick: () => { location.hash = "#/customer/" + encodeURIComponent(key) + query({ offset: timeline.next_offset }); } }, "Next"))));
  view.replaceChildren(el("h2", { class: "page" }, "Customer " + customer.customer_id), page);
  document.body.dataset.ready = "customer";
}

// ---------------------------------------------------------------------------------------
// Ticket page

const MESSAGE_TYPES = ["message.received", "message.sent", "message.internal_note"];

async function ticketPage(id) {
  const view = document.getElementById("view");
  const ticket = await api("/v1/tickets/" + encodeURIComponent(id) + "?history=true");
  destroyCharts();
  state.customerId = null;
  const history = ticket.history || [];
  const messages = history.filter((e) => MESSAGE_TYPES.includes(e.type));
  const changes = history.filter((e) => !MESSAGE_TYPES.includes(e.type));
  const metrics = ticket.metrics || {};
  const names = Object.keys(metrics).filter((k) => k.endsWith("_minutes") && !k.endsWith("_business_minutes")).map((k) => k.slice(0, -"_minutes".length));
  const sla = ticket.sla;
  const clock = (name, target) => {
    if (!target) return el("tr", {}, el("td", {}, name), el("td", {}, "not set"), el("td", {}, ""));
    const left = target.state === "active" ? (target.remaining_minutes >= 0 ? fmt(target.remaining_minutes, 0) + " min left" : fmt(-target.remaining_minutes, 0) + " min overdue") : when(target.at);
    return el("tr", { "data-sla": name }, el("td", {}, name), el("td", {}, target.state), el("td", {}, target.state === "active" ? "due " + when(target.due) + ", " + left : left));
  };
  const page = el("div", { class: "grid" },
    el("section", { class: "card" }, el("h2", {}, "Ticket"), facts([
      ["ticket id", el("span", { id: "ticket-id" }, ticket.ticket_id)],
      ["status", ticket.status],
      ["requester", identityText(ticket.requester)],
      ["channels", ticket.channels.join(", ")],
      ["subject", ticket.subject || "–"],
      ["priority", ticket.priority || "–"],
      ["assignee", ticket.assignee || "–"],
      ["group", ticket.group || "–"],
      ["created", when(ticket.created_at)],
      ["updated", when(ticket.updated_at)],
      ["follow-up of", ticket.follow_up_of ? ticketLink(ticket.follow_up_of) : "–"],
    ])),
    el("section", { class: "card" }, el("h2", {}, "SLA clocks"),
      sla ? [el("p", { class: "note" }, "policy " + sla.policy),
        el("table", {}, el("tbody", {}, clock("first reply", sla.first_reply), clock("next reply", sla.next_reply), clock("resolution", sla.resolution)))]
        : el("p", { class: "note" }, "No SLA policy applies to this ticket."),
      el("h2", {}, "Metrics"),
      el("table", { id: "ticket-metrics" }, el("thead", {}, el("tr", {}, el("th", {}, "metric"), el("th", { class: "num" }, "calendar min"), el("th", { class: "num" }, "business min"))),
        el("tbody", {}, names.map((n) => el("tr", {}, el("td", {}, n.replace(/_/g, " ")), el("td", { class: "num" }, fmt(metrics[n + "_minutes"], 0)), el("td", { class: "num" }, fmt(metrics[n + "_business_minutes"], 0)))),
          el("tr", {}, el("td", {}, "replies"), el("td", { class: "num" }, fmt(metrics.replies)), el("td", {}, "")),
          el("tr", {}, el("td", {}, "reopens"), el("td", { class: "num" }, fmt(metrics.reopens)), el("td", {}, ""))))),
    el("section", { class: "card wide", id: "messages" }, el("h2", {}, "Messages (" + messages.length + ")"),
      messages.map((m) => el("article", { class: "message " + (m.type === "message.received" ? "customer" : "agent"), "data-position": m.position },
        el("div", { class: "meta" }, when(m.at) + " · " + (m.fields.channel || "") + " · " + (m.type === "message.received" ? "customer " + identityText(m.fields.from) : m.type === "message.sent" ? "agent" : "internal note")),
        el("div", {}, m.fields.body || "(no text)")))),
    el("section", { class: "card wide", id: "status-history" }, el("h2", {}, "Status history and changes"),
      el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "when"), el("th", {}, "event"), el("th", {}, "status"), el("th", {}, "by the store"))),
        el("tbody", {}, changes.map((e) => el("tr", {}, el("td", {}, when(e.at)), el("td", {}, e.type), el("td", {}, e.fields.status || e.fields.to || ""), el("td", {}, e.derived ? "yes" : "")))))));
  view.replaceChildren(el("h2", { class: "page" }, "Ticket " + ticket.ticket_id), page);
  document.body.dataset.ready = "ticket";
}

// ---------------------------------------------------------------------------------------
// Routing

async function render() {
  const hash = location.hash || "#/";
  const [path, search] = hash.slice(1).split("?");
  const params = new URLSearchParams(search || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  state.route = parts[0] || "dashboard";
  document.body.dataset.ready = "";
  status("");
  try {
    if (parts[0] === "customer" && parts[1]) await customerPage(parts[1], params);
    else if (parts[0] === "ticket" && parts[1]) await ticketPage(parts[1]);
    else await dashboard(params);
  } catch (error) {
    const detail = error instanceof ApiError && error.status === 401 ? "This server needs an API token: open “API token” above." :
      error instanceof ApiError && error.status === 404 ? "Not found: " + error.message : error.message;
    status(detail, true);
    document.body.dataset.ready = "error";
  }
}

function refreshSoon() {
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(() => {
    state.refreshTimer = null;
    const focused = document.activeElement && document.activeElement.id;
    render().then(() => { if (focused && document.getElementById(focused)) document.getElementById(focused).focus(); });
  }, REFRESH_AFTER_MS);
}

// ---------------------------------------------------------------------------------------
// Live updates: the change feed (Server-Sent Events) read with fetch, so the token can be sent

function live(text, on) {
  const node = document.getElementById("live");
  node.textContent = text;
  node.dataset.state = on ? "on" : "off";
}

async function follow() {
  for (;;) {
    try {
      const extra = state.lastEventId !== null ? { "last-event-id": String(state.lastEventId) } : {};
      const response = await fetch("/v1/feed", { headers: Object.assign(headers(extra), { accept: "text/event-stream" }) });
      if (response.status === 404) { live("live updates unavailable", false); return; }
      if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
      live("live", true);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          onFrame(frame);
        }
      }
    } catch (_) {
      // Reconnects below, after the last position seen.
    }
    live("live: reconnecting", false);
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }
}

function onFrame(frame) {
  let id = null, data = "";
  for (const line of frame.split("\n")) {
    if (line.startsWith("id:")) id = line.slice(3).trim();
    else if (line.startsWith("data:")) data += line.slice(5).trim();
  }
  if (id === null || !data) return; // a keep-alive comment
  state.lastEventId = Number(id);
  let item = null;
  try { item = JSON.parse(data); } catch (_) { return; }
  document.body.dataset.lastEvent = id;
  if (state.route === "dashboard") refreshSoon();
  else if (state.route === "customer" && item.customer_id && item.customer_id === state.customerId) refreshSoon();
}

// ---------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("search").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = document.getElementById("search-key").value.trim();
    if (key) location.hash = "#/customer/" + encodeURIComponent(key);
  });
  const token = document.getElementById("token");
  token.value = state.token;
  document.getElementById("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = token.value.trim();
    sessionStorage.setItem("rapport-token", state.token);
    render();
  });
  window.addEventListener("hashchange", render);
  render();
  follow();
});
