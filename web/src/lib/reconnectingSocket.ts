// One WebSocket that comes back: on an unexpected close it reconnects after an exponential
// backoff with full jitter (capped), asking for a fresh URL and credential each time, so a
// follower resumes from the last sequence it saw and a rotated token is picked up. `stop()` ends
// it for good; so does `done()`, called by the owner when the stream says it is complete.

export interface SocketLike {
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  close(code?: number): void;
}

export type SocketFactory = (url: string, protocols: string[]) => SocketLike;

export interface ReconnectingOptions {
  /** Where to connect, and with which subprotocols; called before every attempt. */
  target: () => Promise<{ url: string; protocols: string[] }> | { url: string; protocols: string[] };
  onMessage: (text: string) => void;
  /** Called on every open; `reconnected` is false the first time. */
  onOpen?: (reconnected: boolean) => void;
  onStatus?: (status: "connecting" | "open" | "waiting" | "stopped") => void;
  create?: SocketFactory;
  baseDelayMs?: number;
  maxDelayMs?: number;
  random?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (timer: unknown) => void;
}

const browserSocket: SocketFactory = (url, protocols) => new WebSocket(url, protocols) as unknown as SocketLike;

export class ReconnectingSocket {
  private socket: SocketLike | null = null;
  private attempt = 0;
  private opened = false;
  private stopped = false;
  private timer: unknown = null;
  readonly delays: number[] = [];

  constructor(private readonly options: ReconnectingOptions) {}

  start(): void {
    void this.connect();
  }

  /** Ends the stream for good (the owner is done with it). */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) (this.options.clearTimer ?? clearTimeout)(this.timer as never);
    this.timer = null;
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000);
    this.options.onStatus?.("stopped");
  }

  /** The next backoff: full jitter over base·2^attempt, capped. */
  nextDelay(): number {
    const base = this.options.baseDelayMs ?? 500;
    const cap = this.options.maxDelayMs ?? 30_000;
    const ceiling = Math.min(cap, base * 2 ** this.attempt);
    this.attempt++;
    return Math.floor((this.options.random ?? Math.random)() * ceiling);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.options.onStatus?.("connecting");
    let target;
    try {
      target = await this.options.target();
    } catch {
      this.retry();
      return;
    }
    if (this.stopped) return;
    const socket = (this.options.create ?? browserSocket)(target.url, target.protocols);
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.attempt = 0;
      this.options.onStatus?.("open");
      this.options.onOpen?.(this.opened);
      this.opened = true;
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      if (typeof event.data === "string") this.options.onMessage(event.data);
    };
    socket.onerror = () => {};
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.retry();
    };
  }

  private retry(): void {
    if (this.stopped) return;
    const delay = this.nextDelay();
    this.delays.push(delay);
    this.options.onStatus?.("waiting");
    this.timer = (this.options.setTimer ?? setTimeout)(() => {
      this.timer = null;
      void this.connect();
    }, delay);
  }
}

/** The ws:// or wss:// URL of an API path on this origin. */
export function socketUrl(path: string): string {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}${path}`;
}

/** The subprotocols that carry a credential to gsm-server (browsers cannot set headers). */
export function bearerProtocols(token: string): string[] {
  return ["gsm.v1", `gsm.bearer.${token}`];
}
