// A JSON text with holes: a value serialised once, except for a few fields that change on every read
// (statusTime, elapsedTime, ...). Those fields are set to slot markers before JSON.stringify; the text is
// cut at the markers and each read fills the holes, so the result is byte for byte what JSON.stringify of
// the whole value with the read's field values gives.
//
// A marker carries a per-process random nonce, so no string from outside (a guest agent's reply, a VM
// name) can fake one; a template whose text holds a different number of holes than were set is refused.
// Markers are plain printable text (no escapes), so JSON.stringify keeps its fast path and the text is
// cut with indexOf.
import { randomBytes } from 'node:crypto';
import type { JsonPieces } from './raw-json.js';

const NONCE = randomBytes(8).toString('hex');

const MARKER_HEAD = `~slot-${NONCE}-`;
/** How a marker value starts in JSON text: the opening quote, then the marker. */
const MARKER_TEXT = `"${MARKER_HEAD}`;

/** The marker value to put where slot `index` goes (before JSON.stringify). */
export function slotMarker(index: number): string {
  return `${MARKER_HEAD}${index}`;
}

/** The marker's opening as UTF-8 (markers are ASCII, so they are found in the bytes as in the text). */
const MARKER_BYTES = Buffer.from(MARKER_TEXT, 'latin1');
const QUOTE = 0x22;

/**
 * Where a JSON text (or its UTF-8 bytes: markers are ASCII, found alike in both) is cut at its markers:
 * the fixed parts as [from, to) and each hole's slot. Undefined when a marker is malformed or there are
 * not exactly `holes` of them.
 */
function cutAtMarkers(text: string | Buffer, holes: number): { parts: [number, number][]; slots: number[] } | undefined {
  const find = (from: number): number => (typeof text === 'string' ? text.indexOf(MARKER_TEXT, from) : text.indexOf(MARKER_BYTES, from));
  const code = (i: number): number => (typeof text === 'string' ? text.charCodeAt(i) : text[i]!);
  const parts: [number, number][] = [];
  const slots: number[] = [];
  let last = 0;
  for (let at = find(0); at >= 0; at = find(last)) {
    const digits = at + MARKER_TEXT.length;
    let end = digits;
    let slot = 0;
    for (; end < text.length && code(end) !== QUOTE; end++) {
      const d = code(end) - 0x30;
      if (d < 0 || d > 9) return undefined;
      slot = slot * 10 + d;
    }
    if (end === digits || end - digits > 6 || end === text.length) return undefined;
    parts.push([last, at]);
    slots.push(slot);
    last = end + 1;
  }
  parts.push([last, text.length]);
  return slots.length === holes ? { parts, slots } : undefined;
}

export class JsonTemplate {
  /** Text pieces: parts[0] hole slots[0] parts[1] hole slots[1] ... parts[n]; absent when kept as bytes. */
  #parts: string[] | undefined;
  readonly #slots: number[];
  /** The fixed parts' UTF-8 bytes: views of one buffer (copied into a reply per read). */
  #bytes: Buffer[] | undefined;
  #fixedBytes = 0;

  private constructor(parts: string[] | undefined, slots: number[], bytes?: Buffer[]) {
    this.#parts = parts;
    this.#slots = slots;
    this.#bytes = bytes;
    if (bytes !== undefined) for (const b of bytes) this.#fixedBytes += b.length;
  }

  /**
   * of(), kept as bytes only: the text is encoded once, whole, and cut in the bytes (the marker bytes
   * stay in the buffer, between the views), so no string but the serialised text is made per build.
   * Many long-lived templates (one per VM, rebuilt per sample) then hold their text off the JS heap,
   * so it is not copied by every young-generation collection it survives; fill() decodes the bytes
   * (for occasional use).
   */
  static bytesOf(value: unknown, holes: number): JsonTemplate | undefined {
    const bytes = Buffer.from(JSON.stringify(value), 'utf8');
    const cut = cutAtMarkers(bytes, holes);
    return cut && new JsonTemplate(undefined, cut.slots, cut.parts.map(([from, to]) => bytes.subarray(from, to)));
  }

  /**
   * Serialise `value`, in which `holes` marker values (slotMarker(i)) were set. Returns undefined when
   * the text does not hold exactly `holes` markers (then serialise the value the plain way).
   */
  static of(value: unknown, holes: number): JsonTemplate | undefined {
    const text = JSON.stringify(value);
    const cut = cutAtMarkers(text, holes);
    return cut && new JsonTemplate(cut.parts.map(([from, to]) => text.slice(from, to)), cut.slots);
  }

  /** The text with each hole filled by the JSON text of `values[slot]`. */
  fill(values: readonly string[]): string {
    const parts = this.#parts ?? this.#bytes!.map((b) => b.toString('utf8'));
    let out = parts[0]!;
    for (let i = 0; i < this.#slots.length; i++) out += values[this.#slots[i]!]! + parts[i + 1]!;
    return out;
  }

  /**
   * The same text as fill(), appended to `into` as bytes: the fixed parts encoded once per template and
   * copied, the values written in between.
   */
  fillInto(values: readonly string[], into: JsonPieces): void {
    const bytes = (this.#bytes ??= this.#encodeParts());
    into.template(bytes, this.#slots, values, this.#fixedBytes);
  }

  #encodeParts(): Buffer[] {
    const parts = this.#parts!;
    const all = Buffer.from(parts.join(''), 'utf8');
    this.#fixedBytes = all.length;
    const out: Buffer[] = [];
    let at = 0;
    for (const p of parts) {
      const n = Buffer.byteLength(p, 'utf8');
      out.push(all.subarray(at, at + n));
      at += n;
    }
    return out;
  }

  /** Approximate size in characters (the fixed text; its bytes once kept as bytes only). */
  get length(): number {
    if (this.#parts === undefined) return this.#fixedBytes;
    let n = 0;
    for (const p of this.#parts) n += p.length;
    return n;
  }
}

/**
 * A template kept while the inputs it was built from stay the same (each compared with ===): the
 * holder of a value serialised once per change.
 */
export class CachedTemplate {
  #inputs: readonly unknown[] | undefined;
  #template: JsonTemplate | undefined;
  #builds = 0;

  /**
   * The template for `inputs`; `build` runs when any input differs from the last call's and returns the
   * value with its markers set and their count. undefined when the value could not be cut (serialise it
   * plainly then).
   */
  get(inputs: readonly unknown[], build: () => { value: unknown; holes: number }): JsonTemplate | undefined {
    if (this.#inputs === undefined || !sameInputs(this.#inputs, inputs)) {
      const { value, holes } = build();
      this.#builds++;
      this.#template = JsonTemplate.of(value, holes);
      this.#inputs = inputs;
    }
    return this.#template;
  }

  get builds(): number {
    return this.#builds;
  }
}

/** Whether two input lists hold the same values, element by element (===). */
export function sameInputs(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
