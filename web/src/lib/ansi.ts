// ANSI escape sequences in job output, parsed into styled spans. Only SGR (colours, bold, …) is
// honoured; every other escape (cursor moves, OSC titles and hyperlinks, …) is dropped. The spans
// hold plain text that React renders as text nodes, so nothing in a log line is ever HTML.

export interface Style {
  fg?: number; // palette index 0-15, or 16-255
  bg?: number;
  fgRgb?: string; // "#rrggbb" from 38;2;r;g;b
  bgRgb?: string;
  bold?: boolean;
  dim?: boolean;
  italic?: boolean;
  underline?: boolean;
  inverse?: boolean;
}

export interface Span {
  text: string;
  style: Style;
}

// eslint-style explicit regex: ESC [ params final | ESC ] … (BEL | ESC \) | ESC single | C0 controls.
const ESCAPE = /\x1b\[([0-9;:?]*)([ -\/]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?|[\x00-\x08\x0b-\x1f\x7f]/g;

export function parseAnsi(line: string, initial: Style = {}): { spans: Span[]; style: Style } {
  const spans: Span[] = [];
  let style: Style = { ...initial };
  let last = 0;
  const push = (text: string) => {
    if (!text) return;
    const prev = spans[spans.length - 1];
    if (prev && sameStyle(prev.style, style)) prev.text += text;
    else spans.push({ text, style: { ...style } });
  };
  for (const match of line.matchAll(ESCAPE)) {
    push(line.slice(last, match.index));
    last = match.index + match[0].length;
    if (match[3] === "m" && !match[2]) style = applySgr(style, match[1] ?? "");
    else if (match[0] === "\t") push("\t");
  }
  push(line.slice(last));
  return { spans, style };
}

function sameStyle(a: Style, b: Style): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof Style>;
  for (const key of keys) if (a[key] !== b[key]) return false;
  return true;
}

function applySgr(current: Style, params: string): Style {
  const codes = params === "" ? [0] : params.split(/[;:]/).map((p) => (p === "" ? 0 : Number(p)));
  let style = { ...current };
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i]!;
    if (code === 0) style = {};
    else if (code === 1) style.bold = true;
    else if (code === 2) style.dim = true;
    else if (code === 3) style.italic = true;
    else if (code === 4) style.underline = true;
    else if (code === 7) style.inverse = true;
    else if (code === 22) { delete style.bold; delete style.dim; }
    else if (code === 23) delete style.italic;
    else if (code === 24) delete style.underline;
    else if (code === 27) delete style.inverse;
    else if (code >= 30 && code <= 37) { style.fg = code - 30; delete style.fgRgb; }
    else if (code >= 90 && code <= 97) { style.fg = code - 90 + 8; delete style.fgRgb; }
    else if (code === 39) { delete style.fg; delete style.fgRgb; }
    else if (code >= 40 && code <= 47) { style.bg = code - 40; delete style.bgRgb; }
    else if (code >= 100 && code <= 107) { style.bg = code - 100 + 8; delete style.bgRgb; }
    else if (code === 49) { delete style.bg; delete style.bgRgb; }
    else if (code === 38 || code === 48) {
      const fg = code === 38;
      if (codes[i + 1] === 5 && codes[i + 2] !== undefined) {
        const index = codes[i + 2]!;
        if (index >= 0 && index <= 255) {
          if (fg) { style.fg = index; delete style.fgRgb; } else { style.bg = index; delete style.bgRgb; }
        }
        i += 2;
      } else if (codes[i + 1] === 2 && codes[i + 4] !== undefined) {
        const rgb = codes.slice(i + 2, i + 5).map((n) => Math.max(0, Math.min(255, n | 0)));
        const hex = "#" + rgb.map((n) => n.toString(16).padStart(2, "0")).join("");
        if (fg) { style.fgRgb = hex; delete style.fg; } else { style.bgRgb = hex; delete style.bg; }
        i += 4;
      } else {
        break; // malformed extended colour: ignore the rest of this sequence
      }
    }
  }
  return style;
}

const BASE = [
  "#1e1e1e", "#cd3131", "#0dbc79", "#b8a300", "#2472c8", "#bc3fbc", "#11a8cd", "#a0a0a0",
  "#666666", "#f14c4c", "#23d18b", "#d5c400", "#3b8eea", "#d670d6", "#29b8db", "#e5e5e5",
];

/** The colour of a palette index (xterm's 256 colours). */
export function paletteColour(index: number): string {
  if (index < 16) return BASE[index]!;
  if (index < 232) {
    const n = index - 16;
    const level = (v: number) => (v === 0 ? 0 : 55 + v * 40);
    const rgb = [Math.floor(n / 36), Math.floor(n / 6) % 6, n % 6].map(level);
    return "#" + rgb.map((v) => v.toString(16).padStart(2, "0")).join("");
  }
  const grey = 8 + (index - 232) * 10;
  return "#" + grey.toString(16).padStart(2, "0").repeat(3);
}

/** The inline style of a span, as CSSOM properties (React sets them through the DOM, not HTML). */
export function spanCss(style: Style): Record<string, string> {
  const css: Record<string, string> = {};
  let fg = style.fgRgb ?? (style.fg !== undefined ? paletteColour(style.fg) : undefined);
  let bg = style.bgRgb ?? (style.bg !== undefined ? paletteColour(style.bg) : undefined);
  if (style.inverse) [fg, bg] = [bg ?? "var(--log-bg)", fg ?? "var(--log-fg)"];
  if (fg) css.color = fg;
  if (bg) css.backgroundColor = bg;
  if (style.bold) css.fontWeight = "700";
  if (style.dim) css.opacity = "0.7";
  if (style.italic) css.fontStyle = "italic";
  if (style.underline) css.textDecoration = "underline";
  return css;
}

/** The text of a line without any escape sequence (for search and download). */
export function stripAnsi(line: string): string {
  return line.replace(ESCAPE, (m) => (m === "\t" ? "\t" : ""));
}
