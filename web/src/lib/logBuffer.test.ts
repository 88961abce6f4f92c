import { describe, expect, it } from "vitest";
import { LogBuffer, type Chunk } from "./logBuffer";

const b64 = (bytes: number[] | string) =>
  btoa(String.fromCharCode(...(typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes)));
const chunk = (seq: number, data: number[] | string, stream: "stdout" | "stderr" = "stdout"): Chunk => ({
  seq,
  stream,
  data: b64(data),
});

describe("LogBuffer", () => {
  it("joins lines and characters split across chunks", () => {
    const buffer = new LogBuffer();
    const euro = [...new TextEncoder().encode("€")];
    buffer.append([chunk(0, "hel"), chunk(1, [0x6c, 0x6f, 0x20, euro[0]!]), chunk(2, [euro[1]!, euro[2]!, 10])]);
    expect(buffer.lines).toEqual([{ stream: "stdout", text: "hello €" }]);
  });

  it("keeps stdout and stderr partial lines apart", () => {
    const buffer = new LogBuffer();
    buffer.append([chunk(0, "out-"), chunk(1, "err\n", "stderr"), chunk(2, "line\n")]);
    expect(buffer.lines.map((l) => `${l.stream}:${l.text}`)).toEqual(["stderr:err", "stdout:out-line"]);
  });

  it("replaces invalid UTF-8 with U+FFFD and keeps markup as text", () => {
    const buffer = new LogBuffer();
    buffer.append([chunk(0, [0xff, 0xfe, 0x3c, 0x62, 0x3e, 10])]);
    expect(buffer.lines[0]!.text).toBe("\ufffd\ufffd<b>");
  });

  it("skips chunks it already has, so a resumed follower adds no repeats", () => {
    const buffer = new LogBuffer();
    buffer.append([chunk(0, "a\n"), chunk(1, "b\n")]);
    expect(buffer.append([chunk(1, "b\n"), chunk(2, "c\n")])).toBe(1);
    expect(buffer.lines.map((l) => l.text)).toEqual(["a", "b", "c"]);
    expect(buffer.lastSeq).toBe(2);
  });

  it("turns an unterminated tail into a line when the output ends", () => {
    const buffer = new LogBuffer();
    buffer.append([chunk(0, "a\r\nno newline")]);
    expect(buffer.pending()).toEqual([{ stream: "stdout", text: "no newline" }]);
    buffer.finish();
    expect(buffer.lines.map((l) => l.text)).toEqual(["a", "no newline"]);
  });
});
