// A job's output as lines: chunks (base64 bytes, in seq order) decoded as UTF-8 per stream, so a
// character or a line split across chunks comes out whole. Invalid UTF-8 becomes U+FFFD; the
// text is only ever rendered as text. Lines are appended in place so 100,000 of them cost one
// array, and the viewer re-renders only what is on screen.

export type StreamName = "stdout" | "stderr";

export interface LogLine {
  stream: StreamName;
  text: string;
}

export interface Chunk {
  seq: number;
  stream: StreamName;
  data: string; // base64
}

export function decodeBase64(data: string): Uint8Array {
  const binary = atob(data);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export class LogBuffer {
  readonly lines: LogLine[] = [];
  /** The last seq appended; -1 before the first. Resuming asks for chunks after it. */
  lastSeq = -1;
  private decoders: Record<StreamName, TextDecoder> = {
    stdout: new TextDecoder("utf-8"),
    stderr: new TextDecoder("utf-8"),
  };
  private partial: Record<StreamName, string> = { stdout: "", stderr: "" };
  /** Bumped on every change, so React can tell. */
  version = 0;

  /** Appends chunks in order; a chunk at or before `lastSeq` (a resend) is skipped. */
  append(chunks: readonly Chunk[]): number {
    let added = 0;
    for (const chunk of chunks) {
      if (chunk.seq <= this.lastSeq) continue;
      this.lastSeq = chunk.seq;
      added += this.appendText(chunk.stream, this.decoders[chunk.stream].decode(decodeBase64(chunk.data), { stream: true }));
    }
    if (added) this.version++;
    return added;
  }

  /** Appends text lines directly (used by benchmarks and tests). */
  appendText(stream: StreamName, text: string): number {
    const parts = (this.partial[stream] + text).split("\n");
    this.partial[stream] = parts.pop() ?? "";
    for (const part of parts) this.lines.push({ stream, text: part.endsWith("\r") ? part.slice(0, -1) : part });
    if (parts.length) this.version++;
    return parts.length;
  }

  /** Ends the output: what is left of an unterminated last line becomes a line. */
  finish(): void {
    for (const stream of ["stdout", "stderr"] as const) {
      const rest = this.partial[stream] + this.decoders[stream].decode();
      this.partial[stream] = "";
      if (rest) {
        this.lines.push({ stream, text: rest });
        this.version++;
      }
    }
  }

  /** The unterminated tails, shown after the lines while the job runs. */
  pending(): LogLine[] {
    return (["stdout", "stderr"] as const)
      .filter((s) => this.partial[s])
      .map((stream) => ({ stream, text: this.partial[stream] }));
  }
}
