// vdsm's mini-broker: the subscription registry shared by every STOMP connection of one server, and the
// routing rules for SEND forwarding, request queues, responses and events. Runtime-free.
import { Destinations, encodeFrame, knownDestination, encodeMessagePartsWith, encodeMessageSpliced, encodeMessageSplicedText, encodeMessageText, messageHead, SplicedBody, type Frame, type MessageHead, type OutFrame, type ReplyBody } from './stomp-frame.js';

/** What the broker needs from a connection. */
export interface BrokerPeer {
  readonly connectionId: number;
  /** Queue one encoded frame for the peer (one socket write). */
  sendFrame(frame: OutFrame): void;
  readonly closed: boolean;
  /** The peer's transport encrypts (TLS): a small frame is cheaper handed to it as bytes than as text. */
  readonly encrypted?: boolean;
}

export interface Subscription {
  readonly id: string;
  readonly destination: string;
  readonly ack: string;
  readonly peer: BrokerPeer;
}

export interface BrokerOptions {
  /** Destinations served internally as JSON-RPC (exact or `<queue>.` prefix). vdsm: [addresses] request_queues. */
  requestQueues?: readonly string[];
  /** vdsm: [addresses] event_queue. */
  eventQueue?: string;
}

export class StompBroker {
  readonly requestQueues: readonly string[];
  readonly eventQueue: string;
  #byDestination = new Map<string, Set<Subscription>>();
  /** forward()'s subscription sets per destination (its prefixes resolved); cleared on any change. */
  #routes = new Map<string, Set<Subscription>[]>();
  /** Each subscription's MESSAGE head, built on its first message. */
  #heads = new WeakMap<Subscription, MessageHead>();

  constructor(opts: BrokerOptions = {}) {
    // vdsm's own names as the very constants the parser gives for them, so a frame's destination matches by identity.
    this.requestQueues = (opts.requestQueues ?? [Destinations.REQUESTS, Destinations.IRS_REQUESTS]).map(knownDestination);
    this.eventQueue = knownDestination(opts.eventQueue ?? Destinations.EVENTS);
  }

  add(sub: Subscription): void {
    let set = this.#byDestination.get(sub.destination);
    if (!set) {
      set = new Set();
      this.#byDestination.set(sub.destination, set);
    }
    set.add(sub);
    this.#routes.clear();
  }

  remove(sub: Subscription): void {
    const set = this.#byDestination.get(sub.destination);
    if (!set) return;
    set.delete(sub);
    if (set.size === 0) this.#byDestination.delete(sub.destination);
    this.#routes.clear();
  }

  /** True when `destination` is a request queue or below one (`jms.topic.vdsm_requests.getAllVmStats`). */
  isRequestDestination(destination: string): boolean {
    for (const q of this.requestQueues) {
      if (destination === q || (destination.length > q.length && destination.startsWith(q) && destination[q.length] === '.')) return true;
    }
    return false;
  }

  /**
   * Forward a client SEND as MESSAGE copies to every subscription on the destination or one of its
   * dot-separated prefixes (`a`, `a.b`, `a.b.c` for `a.b.c`). Returns how many copies were queued.
   */
  forward(frame: Frame, destination: string): number {
    if (this.#byDestination.size === 0) return 0;
    let count = 0;
    for (const set of this.#route(destination)) {
      for (const sub of set) {
        if (sub.peer.closed) continue;
        const headers: [string, string][] = [['subscription', sub.id]];
        for (const k in frame.headers) headers.push([k, frame.headers[k]!]);
        sub.peer.sendFrame(encodeFrame('MESSAGE', headers, frame.body));
        count++;
      }
    }
    return count;
  }

  /** The subscription sets on `destination` and its dot-separated prefixes, shortest first. */
  #route(destination: string): Set<Subscription>[] {
    const known = this.#routes.get(destination);
    if (known !== undefined) return known;
    const sets: Set<Subscription>[] = [];
    let prefix = '';
    for (const part of destination.split('.')) {
      prefix = prefix === '' ? part : `${prefix}.${part}`;
      const set = this.#byDestination.get(prefix);
      if (set) sets.push(set);
    }
    // Destinations are the clients' choice: the cache stays small whatever they send.
    if (this.#routes.size >= MAX_ROUTES) this.#routes.clear();
    this.#routes.set(destination, sets);
    return sets;
  }

  /**
   * Deliver a JSON-RPC response to the subscribers of `destination` (exact match). Choice (differs from
   * vdsm, which sends to every subscriber on every connection): when the requesting connection itself
   * subscribed to the destination, only its subscriptions get the response, so two clients that both use
   * `jms.topic.vdsm_responses` do not see each other's replies; otherwise (a request on one connection
   * whose reply-to is subscribed on another, the mini-broker case) every subscriber gets it, as in vdsm.
   */
  deliverResponse(destination: string, body: ReplyBody, requester: BrokerPeer | undefined): number {
    const set = this.#byDestination.get(destination);
    if (!set) return 0;
    // The requester went away while its call ran: its response is nobody else's business.
    if (requester?.closed) return 0;
    let own = 0;
    if (requester) {
      for (const sub of set) {
        if (sub.peer === requester) {
          requester.sendFrame(this.#message(sub, body));
          own++;
        }
      }
      if (own > 0) return own;
    }
    return this.#toAll(set, body);
  }

  /** Send an event body to every subscriber of the event queue (exact match), on every connection. */
  deliverEvent(body: string): number {
    const set = this.#byDestination.get(this.eventQueue);
    return set ? this.#toAll(set, body) : 0;
  }

  subscriberCount(destination: string): number {
    return this.#byDestination.get(destination)?.size ?? 0;
  }

  state(): { destinations: number; subscriptions: number; eventSubscribers: number } {
    let subscriptions = 0;
    for (const set of this.#byDestination.values()) subscriptions += set.size;
    return { destinations: this.#byDestination.size, subscriptions, eventSubscribers: this.subscriberCount(this.eventQueue) };
  }

  #toAll(set: Set<Subscription>, body: ReplyBody): number {
    let n = 0;
    for (const sub of set) {
      if (sub.peer.closed) continue;
      sub.peer.sendFrame(this.#message(sub, body));
      n++;
    }
    return n;
  }

  /** The MESSAGE frame of `body` for a subscription (destinations match exactly: the subscription's own). */
  #message(sub: Subscription, body: ReplyBody): OutFrame {
    let head = this.#heads.get(sub);
    if (head === undefined) {
      head = messageHead(sub.destination, sub.id);
      this.#heads.set(sub, head);
    }
    if (Array.isArray(body)) return encodeMessagePartsWith(head, body);
    // Text and spliced bodies are the small replies and events (large replies arrive encoded, in parts).
    if (body instanceof SplicedBody) return sub.peer.encrypted === true ? encodeMessageSpliced(head, body) : encodeMessageSplicedText(head, body);
    return encodeMessageText(head, body);
  }
}

/** Destinations whose routes forward() keeps at most. */
const MAX_ROUTES = 256;
