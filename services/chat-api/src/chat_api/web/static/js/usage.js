// Usage: totals per provider and per access for a chosen period, a chart, and the platform quota.

import { api } from "./api.js";
import { clear, formatNumber, formatUsd, h, svg, uid } from "./dom.js";
import { humanMessage } from "./errors.js";
import { accessLabel, providerName } from "./providers.js";

const PERIODS = [
  { id: "month", label: "This month" },
  { id: "7", label: "Last 7 days" },
  { id: "30", label: "Last 30 days" },
  { id: "custom", label: "Custom range" },
];

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

function daysAgo(n) {
  const d = new Date();
  d.setUTCDate(d.getUTCDate() - n);
  return isoDay(d);
}

export async function renderUsage(main) {
  const ids = { period: uid("period"), from: uid("from"), to: uid("to") };
  const period = h("select", { id: ids.period, name: "period" }, PERIODS.map((p) => h("option", { value: p.id }, p.label)));
  const from = h("input", { id: ids.from, type: "date", name: "from", value: daysAgo(30) });
  const to = h("input", { id: ids.to, type: "date", name: "to", value: daysAgo(0) });
  const custom = h("div.custom-range", { hidden: true }, h("label", { for: ids.from }, "From"), from, h("label", { for: ids.to }, "To"), to);
  const results = h("div.usage-results", { "aria-live": "polite" });
  const form = h(
    "form.usage-controls",
    { onsubmit: (event) => { event.preventDefault(); load(); } },
    h("div.field", {}, h("label", { for: ids.period }, "Period"), period),
    custom,
    h("button.button.subtle", { type: "submit" }, "Show"),
  );
  period.addEventListener("change", () => {
    custom.hidden = period.value !== "custom";
    if (period.value !== "custom") load();
  });
  main.append(
    h(
      "section.page",
      { "aria-labelledby": "usage-title" },
      h("h1", { id: "usage-title" }, "Usage"),
      form,
      results,
    ),
  );

  function query(groupBy) {
    const params = new URLSearchParams({ group_by: groupBy });
    if (period.value === "7" || period.value === "30") {
      params.set("from", daysAgo(Number(period.value) - 1));
      params.set("to", daysAgo(0));
    } else if (period.value === "custom") {
      params.set("from", from.value);
      params.set("to", to.value);
    }
    return `/v1/usage?${params}`;
  }

  async function load() {
    clear(results).append(h("p.muted", {}, "Loading…"));
    try {
      const [byProvider, byAccess] = await Promise.all([api.get(query("provider")), api.get(query("key_source"))]);
      clear(results).append(
        totals(byProvider.total),
        quota(byProvider.quota),
        breakdown("Per provider", "usage-providers", byProvider.groups, providerName),
        breakdown("Per access", "usage-access", byAccess.groups, accessLabel),
      );
    } catch (error) {
      clear(results).append(h("p.form-error", { role: "alert" }, humanMessage(error)));
    }
  }

  await load();
}

function totals(total) {
  const card = (label, value) => h("div.stat", {}, h("span.stat-label", {}, label), h("span.stat-value", {}, value));
  return h(
    "div.stats",
    {},
    card("Requests", formatNumber(total.requests)),
    card("Tokens", formatNumber(total.input_tokens + total.output_tokens)),
    card("Estimated cost", formatUsd(total.cost_usd)),
  );
}

function quota(q) {
  const meterId = uid("quota");
  return h(
    "section.quota",
    { "aria-labelledby": `${meterId}-label` },
    h("h2", { id: `${meterId}-label` }, "Platform quota"),
    h(
      "p",
      {},
      h("strong", { "data-quota-remaining": q.platform_tokens_remaining }, formatNumber(q.platform_tokens_remaining)),
      ` of ${formatNumber(q.platform_tokens_limit)} platform tokens left in ${q.period} (UTC). Chats with your own or your org's keys don't count.`,
    ),
    h("meter", {
      id: meterId,
      min: 0,
      max: q.platform_tokens_limit,
      value: q.platform_tokens_used,
      high: q.platform_tokens_limit * 0.8,
      "aria-label": "Platform tokens used this month",
    }),
  );
}

function breakdown(title, id, groups, name) {
  const section = h("section.breakdown", { "aria-labelledby": `${id}-title`, id });
  section.append(h("h2", { id: `${id}-title` }, title));
  if (!groups.length) {
    section.append(h("p.muted", {}, "No usage in this period."));
    return section;
  }
  section.append(
    chart(groups, name, `${title}: tokens`),
    h(
      "div.table-wrap",
      {},
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, ["", "Requests", "Input tokens", "Output tokens", "Cost"].map((t) => h("th", { scope: "col" }, t)))),
        h(
          "tbody",
          {},
          groups.map((g) =>
            h(
              "tr",
              { dataset: { key: g.key || "" } },
              h("th", { scope: "row" }, name(g.key)),
              h("td", {}, formatNumber(g.requests)),
              h("td", {}, formatNumber(g.input_tokens)),
              h("td", {}, formatNumber(g.output_tokens)),
              h("td", {}, formatUsd(g.cost_usd)),
            ),
          ),
        ),
      ),
    ),
  );
  return section;
}

/**
 * A horizontal bar chart of tokens (input and output stacked): the labels and numbers are text, each
 * bar is an inline SVG that stretches with the page, so it reads the same on a phone and a desktop.
 */
function chart(groups, name, label) {
  const max = Math.max(1, ...groups.map((g) => g.input_tokens + g.output_tokens));
  const summary = `${label}. ${groups.map((g) => `${name(g.key)}: ${g.input_tokens + g.output_tokens}`).join(", ")}`;
  const rows = groups.map((g) => {
    const input = (g.input_tokens / max) * 1000;
    const output = (g.output_tokens / max) * 1000;
    return h(
      "div.chart-row",
      { "aria-hidden": "true" },
      h("span.chart-label", {}, name(g.key)),
      svg(
        "svg",
        { class: "chart-bar", viewBox: "0 0 1000 24", preserveAspectRatio: "none", height: 24 },
        svg("rect", { x: 0, y: 0, width: Math.max(input, 2), height: 24, class: "bar-input" }),
        svg("rect", { x: input, y: 0, width: output, height: 24, class: "bar-output" }),
      ),
      h("span.chart-value", {}, formatNumber(g.input_tokens + g.output_tokens)),
    );
  });
  const legend = h(
    "p.legend",
    { "aria-hidden": "true" },
    h("span.swatch.bar-input"),
    " input tokens ",
    h("span.swatch.bar-output"),
    " output tokens",
  );
  return h("figure.chart", { role: "img", "aria-label": summary }, rows, legend);
}
