// A small, safe Markdown renderer: it builds DOM nodes and only ever inserts text as text, so an
// answer can't inject markup. Covers what chat answers use: paragraphs, headings, lists, quotes,
// rules, fenced code blocks (an unclosed fence, mid-stream, still renders as code), inline code,
// bold, italic, strikethrough and http(s)/mailto links.

import { h } from "./dom.js";

const FENCE = /^\s{0,3}(```+|~~~+)\s*([\w+#.-]*)\s*$/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;
const BULLET = /^\s{0,3}[-*+]\s+(.*)$/;
const ORDERED = /^\s{0,3}(\d{1,9})[.)]\s+(.*)$/;

/** A DocumentFragment for `source`. */
export function renderMarkdown(source) {
  const fragment = document.createDocumentFragment();
  const lines = String(source).replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = FENCE.exec(line);
    if (fence) {
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) body.push(lines[i++]);
      i += 1; // the closing fence, if any
      fragment.append(codeBlock(body.join("\n"), fence[2]));
      continue;
    }
    if (!line.trim()) {
      i += 1;
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      fragment.append(h(`h${Math.min(heading[1].length + 2, 6)}`, {}, inline(heading[2])));
      i += 1;
      continue;
    }
    if (RULE.test(line)) {
      fragment.append(h("hr"));
      i += 1;
      continue;
    }
    if (QUOTE.test(line)) {
      const body = [];
      while (i < lines.length && QUOTE.test(lines[i])) body.push(QUOTE.exec(lines[i++])[1]);
      const quote = h("blockquote");
      quote.append(renderMarkdown(body.join("\n")));
      fragment.append(quote);
      continue;
    }
    if (BULLET.test(line) || ORDERED.test(line)) {
      const ordered = ORDERED.test(line);
      const pattern = ordered ? ORDERED : BULLET;
      const list = h(ordered ? "ol" : "ul");
      if (ordered && ORDERED.exec(line)[1] !== "1") list.setAttribute("start", ORDERED.exec(line)[1]);
      while (i < lines.length && pattern.test(lines[i])) {
        const match = pattern.exec(lines[i++]);
        const text = [ordered ? match[2] : match[1]];
        // Indented continuation lines belong to the item.
        while (i < lines.length && /^\s{2,}\S/.test(lines[i]) && !BULLET.test(lines[i]) && !ORDERED.test(lines[i])) {
          text.push(lines[i++].trim());
        }
        list.append(h("li", {}, inline(text.join("\n"))));
      }
      fragment.append(list);
      continue;
    }
    const paragraph = [];
    while (i < lines.length && lines[i].trim() && !startsBlock(lines[i])) paragraph.push(lines[i++]);
    if (!paragraph.length) paragraph.push(lines[i++]);
    fragment.append(h("p", {}, inline(paragraph.join("\n"))));
  }
  return fragment;
}

function startsBlock(line) {
  return [FENCE, HEADING, RULE, QUOTE, BULLET, ORDERED].some((pattern) => pattern.test(line));
}

function codeBlock(text, language) {
  const code = h("code", language ? { class: `language-${language}` } : {}, text);
  const copy = h(
    "button.copy",
    {
      type: "button",
      "aria-label": "Copy code",
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(text);
          copy.textContent = "Copied";
        } catch {
          copy.textContent = "Copy failed";
        }
        setTimeout(() => (copy.textContent = "Copy"), 1500);
      },
    },
    "Copy",
  );
  return h("div.codeblock", {}, h("div.codebar", {}, h("span", {}, language || "code"), copy), h("pre", {}, code));
}

// Inline spans, earliest match first; the text between matches stays text.
const INLINE = [
  { re: /`([^`\n]+)`/, make: (m) => h("code", {}, m[1]) },
  { re: /\*\*(?=\S)([\s\S]*?\S)\*\*/, make: (m) => h("strong", {}, inline(m[1])) },
  { re: /__(?=\S)([\s\S]*?\S)__/, make: (m) => h("strong", {}, inline(m[1])) },
  { re: /~~(?=\S)([\s\S]*?\S)~~/, make: (m) => h("del", {}, inline(m[1])) },
  { re: /\*(?=[^\s*])([^*\n]*?[^\s*])\*/, make: (m) => h("em", {}, inline(m[1])) },
  { re: /(?<![\w])_(?=[^\s_])([^_\n]*?[^\s_])_(?![\w])/, make: (m) => h("em", {}, inline(m[1])) },
  { re: /\[([^\]\n]+)\]\(\s*([^)\s]+)\s*\)/, make: (m) => link(m[1], m[2]) },
  { re: /\bhttps?:\/\/[^\s<>()]+[^\s<>().,;:!?'"]/, make: (m) => link(m[0], m[0]) },
];

function link(text, href) {
  if (!/^(https?:|mailto:)/i.test(href)) return document.createTextNode(text);
  return h("a", { href, target: "_blank", rel: "noopener noreferrer nofollow" }, inline(text));
}

function inline(text) {
  const nodes = [];
  let rest = text;
  while (rest) {
    let best = null;
    for (const rule of INLINE) {
      const match = rule.re.exec(rest);
      if (match && (best === null || match.index < best.match.index)) best = { rule, match };
    }
    if (!best) break;
    if (best.match.index) nodes.push(...lineBreaks(rest.slice(0, best.match.index)));
    nodes.push(best.rule.make(best.match));
    rest = rest.slice(best.match.index + best.match[0].length);
  }
  if (rest) nodes.push(...lineBreaks(rest));
  return nodes;
}

function lineBreaks(text) {
  const parts = text.split("\n");
  return parts.flatMap((part, index) => (index ? [h("br"), part] : [part]));
}
