// One ovirt-guest-agent conversation (vdsm's GuestAgent minus the socket): bytes in through the framer,
// messages decoded and applied to the guest information, the API version negotiated, commands encoded
// and gated by that version. Runtime-free: the transport, the clock and the listener are injected.
import { decodeGuestLine, excerpt, type DecodeFailure } from './guest-json.js';
import { LineFramer, MAX_MESSAGE_BYTES } from './line-framer.js';
import {
  applyChannelTimeout, applyGuestMessage, applyReboot, initialOvirtInfo, InvalidMessage,
  type OvirtGuestInfo, type OvirtInfoKey,
} from './ovirt-messages.js';
import {
  checkApiVersion, encodeCommand, IMPLICIT_API_VERSION, MAX_API_VERSION, negotiateApiVersion,
  type OvirtCommand,
} from './ovirt-protocol.js';

/** Kinds of bad input a guest can send; each is logged once per channel and then counted. */
export type ProblemKind = DecodeFailure | 'oversize' | 'unknown' | 'invalid' | 'truncated';

export interface SessionListener {
  /** Info keys whose values were replaced. */
  changed(keys: readonly OvirtInfoKey[]): void;
  /** The guest's status as this agent sees it: up after a heartbeat, not up after a channel timeout. */
  guestStatus(up: boolean): void;
  apiVersion(from: number, to: number): void;
  completion(replyId: string): void;
  problem(kind: ProblemKind, detail: string): void;
  note(text: string): void;
}

export interface SessionOptions {
  listener: SessionListener;
  /** Monotonic ms. */
  now: () => number;
  /** Wall-clock seconds (lastLogin, lastLogout). */
  wallS?: () => number;
  maxMessageBytes?: number;
  /** An API version remembered from before (vdsm keeps it in the VM's metadata). */
  apiVersion?: number;
}

export type SendResult = { ok: true } | { ok: false; reason: 'unsupported' | 'not-connected' | 'not-draining'; message: string };

export class OvirtSession {
  readonly info: OvirtGuestInfo = initialOvirtInfo();
  #o: SessionOptions;
  #framer: LineFramer;
  #write: ((bytes: Buffer) => boolean) | undefined;
  #apiVersion: number;
  #lastMessageAt = 0;
  #guestUp = false;
  #messages = 0;
  #bytes = 0;

  constructor(opts: SessionOptions) {
    this.#o = opts;
    this.#apiVersion = Math.min(Math.max(opts.apiVersion ?? IMPLICIT_API_VERSION, IMPLICIT_API_VERSION), MAX_API_VERSION);
    this.#framer = new LineFramer({
      line: (bytes) => this.#line(bytes),
      oversize: (dropped) => opts.listener.problem('oversize', `a message of ${dropped} bytes was discarded (limit ${this.#framer.maxBytes} bytes)`),
    }, opts.maxMessageBytes ?? MAX_MESSAGE_BYTES);
  }

  get apiVersion(): number {
    return this.#apiVersion;
  }

  /** Monotonic ms of the last message that parsed (0: never). */
  get lastMessageAt(): number {
    return this.#lastMessageAt;
  }

  get connected(): boolean {
    return this.#write !== undefined;
  }

  get guestUp(): boolean {
    return this.#guestUp;
  }

  /** Bytes of an unfinished message held in the framer. */
  get buffered(): number {
    return this.#framer.held;
  }

  /** The socket connected: start clean and tell the guest which API versions the host speaks. */
  attach(write: (bytes: Buffer) => boolean): void {
    this.#framer.reset();
    this.#write = write;
    write(encodeCommand({ name: 'refresh', args: { apiVersion: MAX_API_VERSION } }));
  }

  /** The socket closed (EOF, error or hang-up). */
  detach(): void {
    this.#write = undefined;
    this.#framer.reset();
  }

  data(chunk: Buffer): void {
    this.#bytes += chunk.length;
    this.#framer.push(chunk);
  }

  /** guest_agent_timeout seconds without a message (repeated while silent). */
  timeout(): void {
    this.#o.listener.changed(applyChannelTimeout(this.info));
    this.#setGuestUp(false);
  }

  /** The VM reboots: the user session is gone (vdsm's onReboot). */
  reboot(): void {
    this.#o.listener.changed(applyReboot(this.info, this.#wallS()));
  }

  send(cmd: OvirtCommand): SendResult {
    const unsupported = checkApiVersion(cmd, this.#apiVersion);
    if (unsupported !== undefined) return { ok: false, reason: 'unsupported', message: unsupported };
    if (this.#write === undefined) return { ok: false, reason: 'not-connected', message: 'the ovirt-guest-agent channel is not connected' };
    if (!this.#write(encodeCommand(cmd))) return { ok: false, reason: 'not-draining', message: 'the guest does not read its channel; command dropped' };
    return { ok: true };
  }

  stats(): { messages: number; bytes: number; buffered: number; apiVersion: number; lastMessageAt: number } {
    return { messages: this.#messages, bytes: this.#bytes, buffered: this.#framer.held, apiVersion: this.#apiVersion, lastMessageAt: this.#lastMessageAt };
  }

  #wallS(): number {
    return this.#o.wallS?.() ?? Date.now() / 1000;
  }

  #line(bytes: Buffer): void {
    const l = this.#o.listener;
    // Blank lines carry nothing (an agent's keep-alive); not worth a log line.
    if (bytes.length === 0 || (bytes.length <= 2 && bytes.toString('latin1').trim() === '')) return;
    const decoded = decodeGuestLine(bytes);
    if (!decoded.ok) {
      l.problem(decoded.reason, `${decoded.detail}: ${excerpt(bytes)}`);
      return;
    }
    // Any parsed message shows the agent is alive, even one whose arguments are wrong (as in vdsm).
    this.#lastMessageAt = this.#o.now();
    this.#messages++;
    let effect;
    try {
      effect = applyGuestMessage(this.info, decoded.name, decoded.args, this.#wallS());
    } catch (err) {
      if (!(err instanceof InvalidMessage)) throw err;
      l.problem(err.kind, err.message);
      return;
    }
    if (effect.changed.length > 0) l.changed(effect.changed);
    if (effect.truncated) l.problem('truncated', `${decoded.name}: lists cut to their bounds`);
    if (effect.note !== undefined) l.note(effect.note);
    if (effect.completion !== undefined) l.completion(effect.completion);
    if (effect.heartbeat !== undefined) {
      this.#negotiate(effect.heartbeat.hasApiVersion ? effect.heartbeat.apiVersion : undefined);
      // Only after the whole heartbeat has been taken in.
      this.#setGuestUp(true);
    }
  }

  #negotiate(reported: unknown): void {
    const next = negotiateApiVersion(reported);
    if (next === this.#apiVersion) return;
    const prev = this.#apiVersion;
    this.#apiVersion = next;
    this.#o.listener.apiVersion(prev, next);
    // Tell the guest the common version, unless versioning was just switched off.
    if (next !== IMPLICIT_API_VERSION) this.#write?.(encodeCommand({ name: 'api-version', args: { apiVersion: next } }));
  }

  #setGuestUp(up: boolean): void {
    if (up === this.#guestUp) return;
    this.#guestUp = up;
    this.#o.listener.guestStatus(up);
  }
}
