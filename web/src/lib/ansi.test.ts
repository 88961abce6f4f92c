import { describe, expect, it } from "vitest";
import { paletteColour, parseAnsi, spanCss, stripAnsi } from "./ansi";

const check = (input: string) => parseAnsi(input).spans.map((s) => [s.text, s.style]);

describe("parseAnsi", () => {
  it("keeps plain text as one unstyled span", () => {
    expect(check("hello <b>world</b>")).toEqual([["hello <b>world</b>", {}]]);
  });

  it("turns SGR colours and resets into styled spans", () => {
    expect(check("a\x1b[31mred\x1b[1;42m both\x1b[0m plain")).toEqual([
      ["a", {}],
      ["red", { fg: 1 }],
      [" both", { fg: 1, bold: true, bg: 2 }],
      [" plain", {}],
    ]);
  });

  it("reads 256-colour and true-colour forms", () => {
    expect(check("\x1b[38;5;196mx\x1b[48;2;1;2;3my")).toEqual([
      ["x", { fg: 196 }],
      ["y", { fg: 196, bgRgb: "#010203" }],
    ]);
  });

  it("drops cursor moves, OSC titles and hyperlinks, and bare controls", () => {
    expect(stripAnsi("\x1b[2J\x1b[Hok\x1b]0;title\x07 \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\x07\x00!")).toBe(
      "ok link!",
    );
  });

  it("survives malformed sequences without throwing or leaking escapes", () => {
    for (const input of ["\x1b[38;5m", "\x1b[38;2;1m", "\x1b[", "\x1b", "\x1b[999999999m", "\x1b[;;m"]) {
      const text = parseAnsi(input + "z").spans.map((s) => s.text).join("");
      expect(text).not.toContain("\x1b");
    }
  });

  it("carries the style into the next line", () => {
    const first = parseAnsi("\x1b[32mgreen");
    expect(parseAnsi("still", first.style).spans).toEqual([{ text: "still", style: { fg: 2 } }]);
  });
});

describe("colours", () => {
  it("maps the palette and inverse", () => {
    expect(paletteColour(1)).toBe("#cd3131");
    expect(paletteColour(16)).toBe("#000000");
    expect(paletteColour(231)).toBe("#ffffff");
    expect(paletteColour(232)).toBe("#080808");
    expect(spanCss({ fg: 1, inverse: true })).toEqual({ color: "var(--log-bg)", backgroundColor: "#cd3131" });
  });
});
