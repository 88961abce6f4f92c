// The log viewer: a virtualised list (only the rows on screen are in the DOM, so 100,000 lines
// scroll as smoothly as 100), ANSI colours rendered as styled text spans (never HTML), search
// with next/previous, follow-the-tail while the job runs, and a plain-text download. Positions are
// inline styles, which React sets through the CSSOM, so the CSP needs no 'unsafe-inline'.
import { memo, useEffect, useMemo, useRef, useState } from "react";
import { parseAnsi, spanCss, stripAnsi } from "../lib/ansi";
import type { LogBuffer, LogLine } from "../lib/logBuffer";
import { cn } from "../lib/cn";
import { Button } from "./ui/button";
import { Input } from "./ui/input";

export const ROW_HEIGHT = 20;
const OVERSCAN = 20;

export interface LogViewerProps {
  buffer: LogBuffer;
  version: number;
  status?: string;
  fileName?: string;
  height?: number;
}

export function LogViewer({ buffer, version, status, fileName = "job.log", height = 480 }: LogViewerProps) {
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [follow, setFollow] = useState(true);
  const [query, setQuery] = useState("");
  const [current, setCurrent] = useState(0);
  const lines: LogLine[] = useMemo(
    () => [...buffer.lines, ...buffer.pending()],
    // The buffer grows in place; `version` says when.
    [buffer, version],
  );
  const matches = useMemo(() => {
    if (!query) return [];
    const needle = query.toLowerCase();
    const found: number[] = [];
    for (let i = 0; i < lines.length; i++) if (stripAnsi(lines[i]!.text).toLowerCase().includes(needle)) found.push(i);
    return found;
  }, [lines, query]);
  const matchSet = useMemo(() => new Set(matches), [matches]);

  // Follow the tail while new lines arrive, unless the reader scrolled up.
  useEffect(() => {
    const el = scroller.current;
    if (follow && el) el.scrollTop = el.scrollHeight;
  }, [follow, lines.length]);

  const jump = (index: number) => {
    if (!matches.length) return;
    const wrapped = ((index % matches.length) + matches.length) % matches.length;
    setCurrent(wrapped);
    setFollow(false);
    const el = scroller.current;
    if (el) el.scrollTop = Math.max(0, matches[wrapped]! * ROW_HEIGHT - height / 2);
  };

  const download = () => {
    const text = lines.map((l) => stripAnsi(l.text)).join("\n") + "\n";
    const url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = fileName;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };

  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(lines.length, Math.ceil((scrollTop + height) / ROW_HEIGHT) + OVERSCAN);
  const rows = [];
  for (let i = first; i < last; i++) {
    rows.push(
      <Row key={i} index={i} line={lines[i]!} match={matchSet.has(i)} current={matches[current] === i} />,
    );
  }

  return (
    <div className="flex flex-col gap-2">
      <div className="flex flex-wrap items-center gap-2">
        <Input
          aria-label="Search the output"
          placeholder="Search the output"
          className="max-w-xs"
          value={query}
          onChange={(e) => {
            setQuery(e.target.value);
            setCurrent(0);
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter") jump(current + (e.shiftKey ? -1 : 1));
          }}
        />
        <span className="text-sm text-muted-fg" aria-live="polite" data-testid="log-matches">
          {query ? `${matches.length ? current + 1 : 0} of ${matches.length}` : `${lines.length} lines`}
        </span>
        <Button variant="outline" size="sm" onClick={() => jump(current - 1)} disabled={!matches.length}>
          Previous
        </Button>
        <Button variant="outline" size="sm" onClick={() => jump(current + 1)} disabled={!matches.length}>
          Next
        </Button>
        <label className="flex items-center gap-1 text-sm">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow
        </label>
        <Button variant="outline" size="sm" onClick={download}>
          Download
        </Button>
        {status && (
          <span className="ml-auto text-sm text-muted-fg" data-testid="log-status">
            {status}
          </span>
        )}
      </div>
      <div
        ref={scroller}
        role="log"
        aria-label="Job output"
        tabIndex={0}
        data-testid="log-viewer"
        className="overflow-auto rounded-md bg-log-bg font-mono text-xs text-log-fg"
        onScroll={(e) => {
          const el = e.currentTarget;
          setScrollTop(el.scrollTop);
          const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < ROW_HEIGHT;
          if (atBottom !== follow) setFollow(atBottom);
        }}
        style={{ height }}
      >
        <div className="relative" style={{ height: lines.length * ROW_HEIGHT }}>
          {rows}
        </div>
      </div>
    </div>
  );
}

const Row = memo(function Row({ index, line, match, current }: { index: number; line: LogLine; match: boolean; current: boolean }) {
  const { spans } = useMemo(() => parseAnsi(line.text), [line.text]);
  return (
    <div
      className={cn(
        "absolute right-0 left-0 overflow-hidden px-3 whitespace-pre",
        line.stream === "stderr" && "text-red-300",
        match && "bg-yellow-900/60",
        current && "outline outline-yellow-400",
      )}
      style={{ top: index * ROW_HEIGHT, height: ROW_HEIGHT, lineHeight: `${ROW_HEIGHT}px` }}
      data-line={index}
    >
      {spans.map((span, i) => (
        <span key={i} style={spanCss(span.style)}>
          {span.text}
        </span>
      ))}
    </div>
  );
});
