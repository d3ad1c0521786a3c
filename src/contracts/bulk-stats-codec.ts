// One bulk-stats sample (sampling.bulkStats' records: uuid -> flat libvirt stats) as one ArrayBuffer, so
// the sampling worker hands it to the main thread by transfer instead of a structured clone (issue 17):
// receiving 1,000 qemu-shaped records as objects took the main thread ~8 ms in one block, and left ~84,000
// properties and their heap numbers for every young-generation collection to copy. The main thread keeps
// the bytes (off the JS heap) and decodes one VM's record when a report needs it (BulkStatsView.record).
//
// Layout (host byte order; the magic word tells a foreign order apart), sections back to back:
//   header      u32 x 8: magic, version, vms, keys, entries, strings, string bytes, 0
//   values      f64 x entries: the number; for a string the index of its text; for a boolean 0 or 1
//   vm table    u32 x 3 per VM: text index of its uuid, first entry, entry count
//   key table   u32 per key: text index of the key name
//   text spans  u32 x 2 per text: start and end in the text bytes
//   key of      u16 per entry: index in the key table
//   type of     u8 per entry: 0 number, 1 string, 2 boolean
//   text bytes  UTF-8 of every text (uuids, key names, string values)
// A buffer is checked whole when it is opened: a truncated or inconsistent one is refused with a
// BulkStatsFormatError saying what is wrong, and nothing of it is used.

/** A libvirt bulk-stats value: the binding gives numbers, strings and booleans only. */
export type BulkStatsValue = number | string | boolean;

const MAGIC = 0x31534256; // "VBS1" read as a little-endian u32
const VERSION = 1;
const HEADER_WORDS = 8;
const HEADER_BYTES = HEADER_WORDS * 4;
const NUMBER = 0;
const STRING = 1;
const BOOLEAN = 2;
/** Key indexes are u16. */
const MAX_KEYS = 0xffff;

/** A buffer that is not a bulk-stats sample of this format, or a record value the format cannot hold. */
export class BulkStatsFormatError extends Error {
  readonly code = 'ERR_BULK_STATS_FORMAT';
  constructor(message: string) {
    super(`bulk stats sample: ${message}`);
    this.name = 'BulkStatsFormatError';
  }
}

interface Layout {
  values: number;
  vmTable: number;
  keyTable: number;
  spans: number;
  keyOf: number;
  typeOf: number;
  text: number;
  total: number;
}

function layout(vms: number, keys: number, entries: number, strings: number, textBytes: number): Layout {
  const values = HEADER_BYTES;
  const vmTable = values + 8 * entries;
  const keyTable = vmTable + 12 * vms;
  const spans = keyTable + 4 * keys;
  const keyOf = spans + 8 * strings;
  const typeOf = keyOf + 2 * entries;
  const text = typeOf + entries;
  return { values, vmTable, keyTable, spans, keyOf, typeOf, text, total: text + textBytes };
}

/** Encode `records` (uuid -> flat stats) into one buffer for transfer. Throws on a value of another type. */
export function encodeBulkStats(records: Iterable<{ uuid: string; stats: Readonly<Record<string, unknown>> }>): ArrayBuffer {
  const texts: string[] = [];
  const textIndex = new Map<string, number>();
  const text = (s: string): number => {
    let i = textIndex.get(s);
    if (i === undefined) {
      i = texts.length;
      texts.push(s);
      textIndex.set(s, i);
    }
    return i;
  };
  const keyIndex = new Map<string, number>();
  const keyTexts: number[] = [];
  const vmRows: number[] = [];
  const values: number[] = [];
  const keyOf: number[] = [];
  const typeOf: number[] = [];
  for (const { uuid, stats } of records) {
    vmRows.push(text(uuid), values.length, 0);
    for (const key in stats) {
      const v = stats[key];
      let k = keyIndex.get(key);
      if (k === undefined) {
        k = keyTexts.length;
        if (k >= MAX_KEYS) throw new BulkStatsFormatError(`more than ${MAX_KEYS} distinct keys`);
        keyTexts.push(text(key));
        keyIndex.set(key, k);
      }
      if (typeof v === 'number') {
        values.push(v);
        typeOf.push(NUMBER);
      } else if (typeof v === 'string') {
        values.push(text(v));
        typeOf.push(STRING);
      } else if (typeof v === 'boolean') {
        values.push(v ? 1 : 0);
        typeOf.push(BOOLEAN);
      } else {
        throw new BulkStatsFormatError(`${uuid} ${key}: a ${typeof v} value (numbers, strings and booleans only)`);
      }
      keyOf.push(k);
    }
    vmRows[vmRows.length - 1] = values.length - vmRows[vmRows.length - 2]!;
  }
  const encoder = new TextEncoder();
  const encoded = texts.map((s) => encoder.encode(s));
  const textBytes = encoded.reduce((n, b) => n + b.length, 0);
  const vms = vmRows.length / 3;
  const at = layout(vms, keyTexts.length, values.length, texts.length, textBytes);
  const buf = new ArrayBuffer(at.total);
  new Uint32Array(buf, 0, HEADER_WORDS).set([MAGIC, VERSION, vms, keyTexts.length, values.length, texts.length, textBytes, 0]);
  new Float64Array(buf, at.values, values.length).set(values);
  new Uint32Array(buf, at.vmTable, vmRows.length).set(vmRows);
  new Uint32Array(buf, at.keyTable, keyTexts.length).set(keyTexts);
  const spans = new Uint32Array(buf, at.spans, 2 * texts.length);
  const bytes = new Uint8Array(buf, at.text, textBytes);
  let pos = 0;
  encoded.forEach((b, i) => {
    spans[2 * i] = pos;
    bytes.set(b, pos);
    pos += b.length;
    spans[2 * i + 1] = pos;
  });
  new Uint16Array(buf, at.keyOf, keyOf.length).set(keyOf);
  new Uint8Array(buf, at.typeOf, typeOf.length).set(typeOf);
  return buf;
}

/**
 * An encoded sample, opened: the uuids and key names are decoded once, each VM's record on request
 * (a new object each time: nothing of it stays on the heap after its use).
 */
export class BulkStatsView {
  readonly #values: Float64Array;
  readonly #keyOf: Uint16Array;
  readonly #typeOf: Uint8Array;
  readonly #spans: Uint32Array;
  /** The text bytes (a Buffer view: its toString is the cheapest UTF-8 decode of a short slice). */
  readonly #bytes: Buffer;
  readonly #keys: string[];
  /** uuid -> [first entry, entry count] */
  readonly #vms = new Map<string, { from: number; count: number }>();

  /** Check `buf` whole and open it; throws BulkStatsFormatError when it is not a valid sample. */
  constructor(buf: ArrayBuffer) {
    if (!(buf instanceof ArrayBuffer)) throw new BulkStatsFormatError(`expected an ArrayBuffer, got ${buf === null ? 'null' : typeof buf}`);
    if (buf.byteLength < HEADER_BYTES) throw new BulkStatsFormatError(`${buf.byteLength} bytes, shorter than its ${HEADER_BYTES}-byte header`);
    const [magic, version, vms, keys, entries, strings, textBytes] = new Uint32Array(buf, 0, HEADER_WORDS) as unknown as number[];
    if (magic !== MAGIC) throw new BulkStatsFormatError(`bad magic 0x${magic!.toString(16)} (not a sample of this format)`);
    if (version !== VERSION) throw new BulkStatsFormatError(`format version ${version}, this agent reads ${VERSION}`);
    const at = layout(vms!, keys!, entries!, strings!, textBytes!);
    if (at.total !== buf.byteLength) throw new BulkStatsFormatError(`${buf.byteLength} bytes, its header describes ${at.total} (truncated or corrupt)`);
    this.#values = new Float64Array(buf, at.values, entries);
    this.#spans = new Uint32Array(buf, at.spans, 2 * strings!);
    this.#keyOf = new Uint16Array(buf, at.keyOf, entries);
    this.#typeOf = new Uint8Array(buf, at.typeOf, entries);
    this.#bytes = Buffer.from(buf, at.text, textBytes);
    for (let i = 0; i < strings!; i++) {
      if (this.#spans[2 * i]! > this.#spans[2 * i + 1]! || this.#spans[2 * i + 1]! > textBytes!) throw new BulkStatsFormatError(`text ${i} lies outside the text bytes`);
    }
    const keyTable = new Uint32Array(buf, at.keyTable, keys);
    this.#keys = Array.from(keyTable, (t, i) => this.#text(t, `key ${i}`));
    for (let i = 0; i < entries!; i++) {
      if (this.#keyOf[i]! >= keys!) throw new BulkStatsFormatError(`entry ${i} names key ${this.#keyOf[i]} of ${keys}`);
      const type = this.#typeOf[i]!;
      if (type === STRING) {
        const t = this.#values[i]!;
        if (!Number.isInteger(t) || t < 0 || t >= strings!) throw new BulkStatsFormatError(`entry ${i} names text ${t} of ${strings}`);
      } else if (type !== NUMBER && type !== BOOLEAN) throw new BulkStatsFormatError(`entry ${i} has unknown type ${type}`);
    }
    const vmTable = new Uint32Array(buf, at.vmTable, 3 * vms!);
    for (let v = 0; v < vms!; v++) {
      const uuid = this.#text(vmTable[3 * v]!, `vm ${v}'s uuid`);
      const from = vmTable[3 * v + 1]!;
      const count = vmTable[3 * v + 2]!;
      if (from + count > entries!) throw new BulkStatsFormatError(`vm ${uuid}'s entries ${from}+${count} run past the ${entries} entries`);
      if (this.#vms.has(uuid)) throw new BulkStatsFormatError(`vm ${uuid} appears twice`);
      this.#vms.set(uuid, { from, count });
    }
  }

  /** Number of VMs in the sample. */
  get size(): number {
    return this.#vms.size;
  }

  ids(): IterableIterator<string> {
    return this.#vms.keys();
  }

  has(uuid: string): boolean {
    return this.#vms.has(uuid);
  }

  /** The VM's record, as the worker's libvirt call returned it (a fresh object per call); undefined when absent. */
  record(uuid: string): Record<string, BulkStatsValue> | undefined {
    const vm = this.#vms.get(uuid);
    if (vm === undefined) return undefined;
    const out: Record<string, BulkStatsValue> = {};
    const values = this.#values;
    const types = this.#typeOf;
    const keyOf = this.#keyOf;
    const keys = this.#keys;
    for (let i = vm.from, end = vm.from + vm.count; i < end; i++) {
      const type = types[i];
      const v = values[i]!;
      out[keys[keyOf[i]!]!] = type === NUMBER ? v : type === STRING ? this.#text(v, 'value') : v !== 0;
    }
    return out;
  }

  /** Every VM's record (tests, diagnostics). */
  toObject(): Record<string, Record<string, BulkStatsValue>> {
    const out: Record<string, Record<string, BulkStatsValue>> = {};
    for (const uuid of this.#vms.keys()) out[uuid] = this.record(uuid)!;
    return out;
  }

  #text(index: number, what: string): string {
    if (index >= this.#spans.length / 2) throw new BulkStatsFormatError(`${what} names text ${index} of ${this.#spans.length / 2}`);
    return this.#bytes.toString('utf8', this.#spans[2 * index], this.#spans[2 * index + 1]);
  }
}
