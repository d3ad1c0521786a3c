// One bulk-stats sample (sampling.bulkStats' records: uuid -> flat libvirt stats) as one ArrayBuffer, so
// the sampling worker hands it to the main thread by transfer instead of a structured clone (issue 17):
// receiving 1,000 qemu-shaped records as objects took the main thread ~8 ms in one block, and left ~84,000
// properties and their heap numbers for every young-generation collection to copy. The main thread keeps
// the bytes (off the JS heap) and decodes one VM's record when a report needs it (BulkStatsView.record).
//
// Layout (host byte order; the magic word tells a foreign order apart), sections back to back:
//   header         u32 x 10: magic, version, vms, keys, entries, texts, text bytes, shapes, shape entries, 0
//   values         f64 per entry: the number; for a string the index of its text; for a boolean 0 or 1
//   vm table       u32 x 3 per VM: text index of its uuid, its first entry, its shape
//   shape table    u32 x 2 per shape: first shape entry, count (a shape: one key list with value types;
//                  VMs with the same devices share one)
//   key table      u32 per key: text index of the key name
//   text spans     u32 x 2 per text: start and end in the text bytes
//   shape keys     u16 per shape entry: index in the key table
//   shape types    u8 per shape entry: 0 number, 1 string, 2 boolean
//   text bytes     UTF-8 of every text (uuids, key names, string values)
// A buffer is checked whole when it is opened: a truncated or inconsistent one is refused with a
// BulkStatsFormatError saying what is wrong, and nothing of it is used. A VM's record is built by a
// function made once per shape (an object literal of the shape's keys), so decoding one is a single
// allocation of a compact object rather than ~84 keyed stores into a dictionary.

/** A libvirt bulk-stats value: the binding gives numbers, strings and booleans only. */
export type BulkStatsValue = number | string | boolean;

const MAGIC = 0x31534256; // "VBS1" read as a little-endian u32
const VERSION = 1;
const HEADER_WORDS = 10;
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

/** Where each section starts (bytes), from the header's counts. */
export interface BulkStatsLayout {
  values: number;
  vmTable: number;
  shapeTable: number;
  keyTable: number;
  spans: number;
  shapeKeys: number;
  shapeTypes: number;
  text: number;
  total: number;
}

function layout(vms: number, keys: number, entries: number, texts: number, textBytes: number, shapes: number, shapeEntries: number): BulkStatsLayout {
  const values = HEADER_BYTES;
  const vmTable = values + 8 * entries;
  const shapeTable = vmTable + 12 * vms;
  const keyTable = shapeTable + 8 * shapes;
  const spans = keyTable + 4 * keys;
  const shapeKeys = spans + 8 * texts;
  const shapeTypes = shapeKeys + 2 * shapeEntries;
  const text = shapeTypes + shapeEntries;
  return { values, vmTable, shapeTable, keyTable, spans, shapeKeys, shapeTypes, text, total: text + textBytes };
}

/** The header's counts and the sections' offsets of an encoded sample (diagnostics, tests); no checks. */
export function bulkStatsLayout(buf: ArrayBuffer): BulkStatsLayout & { counts: { vms: number; keys: number; entries: number; texts: number; textBytes: number; shapes: number; shapeEntries: number } } {
  const h = new Uint32Array(buf, 0, HEADER_WORDS);
  const counts = { vms: h[2]!, keys: h[3]!, entries: h[4]!, texts: h[5]!, textBytes: h[6]!, shapes: h[7]!, shapeEntries: h[8]! };
  return { ...layout(counts.vms, counts.keys, counts.entries, counts.texts, counts.textBytes, counts.shapes, counts.shapeEntries), counts };
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
  const shapeIndex = new Map<string, number>();
  const shapeRows: number[] = [];
  const shapeKeys: number[] = [];
  const shapeTypes: number[] = [];
  const vmRows: number[] = [];
  const values: number[] = [];
  const sig: number[] = [];
  for (const { uuid, stats } of records) {
    const first = values.length;
    sig.length = 0;
    for (const key in stats) {
      const v = stats[key];
      let k = keyIndex.get(key);
      if (k === undefined) {
        k = keyTexts.length;
        if (k >= MAX_KEYS) throw new BulkStatsFormatError(`more than ${MAX_KEYS} distinct keys`);
        keyTexts.push(text(key));
        keyIndex.set(key, k);
      }
      let type: number;
      if (typeof v === 'number') {
        values.push(v);
        type = NUMBER;
      } else if (typeof v === 'string') {
        values.push(text(v));
        type = STRING;
      } else if (typeof v === 'boolean') {
        values.push(v ? 1 : 0);
        type = BOOLEAN;
      } else {
        throw new BulkStatsFormatError(`${uuid} ${key}: a ${typeof v} value (numbers, strings and booleans only)`);
      }
      sig.push(k * 4 + type);
    }
    const key = sig.join(',');
    let shape = shapeIndex.get(key);
    if (shape === undefined) {
      shape = shapeRows.length / 2;
      shapeRows.push(shapeKeys.length, sig.length);
      for (const e of sig) {
        shapeKeys.push(e >> 2);
        shapeTypes.push(e & 3);
      }
      shapeIndex.set(key, shape);
    }
    vmRows.push(text(uuid), first, shape);
  }
  const encoder = new TextEncoder();
  const encoded = texts.map((s) => encoder.encode(s));
  const textBytes = encoded.reduce((n, b) => n + b.length, 0);
  const vms = vmRows.length / 3;
  const shapes = shapeRows.length / 2;
  const at = layout(vms, keyTexts.length, values.length, texts.length, textBytes, shapes, shapeKeys.length);
  const buf = new ArrayBuffer(at.total);
  new Uint32Array(buf, 0, HEADER_WORDS).set([MAGIC, VERSION, vms, keyTexts.length, values.length, texts.length, textBytes, shapes, shapeKeys.length, 0]);
  new Float64Array(buf, at.values, values.length).set(values);
  new Uint32Array(buf, at.vmTable, vmRows.length).set(vmRows);
  new Uint32Array(buf, at.shapeTable, shapeRows.length).set(shapeRows);
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
  new Uint16Array(buf, at.shapeKeys, shapeKeys.length).set(shapeKeys);
  new Uint8Array(buf, at.shapeTypes, shapeTypes.length).set(shapeTypes);
  return buf;
}

type Build = (values: Float64Array, first: number, text: (index: number) => string) => Record<string, BulkStatsValue>;

/**
 * Record builders by shape (its keys and types), kept across samples so they stay optimised: a
 * sample's VMs have a handful of shapes, and the same ones sample after sample. Bounded: a host whose
 * VMs change devices all the time starts over past MAX_BUILDERS.
 */
const builders = new Map<string, Build>();
const MAX_BUILDERS = 512;

function builderFor(keys: readonly string[], types: readonly number[]): Build {
  const sig = JSON.stringify([keys, types]);
  let build = builders.get(sig);
  if (build !== undefined) return build;
  if (keys.includes('__proto__')) {
    // An object literal would set the prototype: define the key as an own property, as a clone does.
    build = (v, o, t) => {
      const out: Record<string, BulkStatsValue> = {};
      keys.forEach((k, i) => Object.defineProperty(out, k, { value: decodeValue(types[i]!, v[o + i]!, t), enumerable: true, writable: true, configurable: true }));
      return out;
    };
  } else {
    // Keys are JSON string literals (safe as JS source); values read from the sample's values.
    const fields = keys.map((k, i) => `${JSON.stringify(k)}: ${types[i] === NUMBER ? `v[o + ${i}]` : types[i] === STRING ? `t(v[o + ${i}])` : `v[o + ${i}] !== 0`}`);
    build = new Function('v', 'o', 't', `return {${fields.join(', ')}};`) as Build;
  }
  if (builders.size >= MAX_BUILDERS) builders.clear();
  builders.set(sig, build);
  return build;
}

function decodeValue(type: number, v: number, text: (index: number) => string): BulkStatsValue {
  return type === NUMBER ? v : type === STRING ? text(v) : v !== 0;
}

/**
 * An encoded sample, opened: the uuids and key names are decoded once, each VM's record on request
 * (a new object each time: nothing of it stays on the heap after its use).
 */
export class BulkStatsView {
  readonly #values: Float64Array;
  readonly #spans: Uint32Array;
  /** The text bytes (a Buffer view: its toString is the cheapest UTF-8 decode of a short slice). */
  readonly #bytes: Buffer;
  /** uuid -> [first entry, shape] */
  readonly #vms = new Map<string, { first: number; shape: number }>();
  /** Per shape: its key names and value types, and its builder once asked for. */
  readonly #shapes: { keys: string[]; types: number[]; build: Build | undefined }[] = [];
  /**
   * Texts decoded so far: string values repeat in every record of a VM (its disks' names and paths,
   * its NICs' names) and often across VMs, so each is decoded once per sample.
   */
  readonly #texts: (string | undefined)[] = [];
  readonly #text = (index: number): string => (this.#texts[index] ??= this.#bytes.toString('utf8', this.#spans[2 * index], this.#spans[2 * index + 1]));

  /** Check `buf` whole and open it; throws BulkStatsFormatError when it is not a valid sample. */
  constructor(buf: ArrayBuffer) {
    if (!(buf instanceof ArrayBuffer)) throw new BulkStatsFormatError(`expected an ArrayBuffer, got ${buf === null ? 'null' : typeof buf}`);
    if (buf.byteLength < HEADER_BYTES) throw new BulkStatsFormatError(`${buf.byteLength} bytes, shorter than its ${HEADER_BYTES}-byte header`);
    const header = new Uint32Array(buf, 0, HEADER_WORDS);
    const magic = header[0]!;
    const version = header[1]!;
    if (magic !== MAGIC) throw new BulkStatsFormatError(`bad magic 0x${magic.toString(16)} (not a sample of this format)`);
    if (version !== VERSION) throw new BulkStatsFormatError(`format version ${version}, this agent reads ${VERSION}`);
    const { counts: c, ...at } = bulkStatsLayout(buf);
    if (at.total !== buf.byteLength) throw new BulkStatsFormatError(`${buf.byteLength} bytes, its header describes ${at.total} (truncated or corrupt)`);
    this.#values = new Float64Array(buf, at.values, c.entries);
    this.#spans = new Uint32Array(buf, at.spans, 2 * c.texts);
    this.#bytes = Buffer.from(buf, at.text, c.textBytes);
    for (let i = 0; i < c.texts; i++) {
      if (this.#spans[2 * i]! > this.#spans[2 * i + 1]! || this.#spans[2 * i + 1]! > c.textBytes) throw new BulkStatsFormatError(`text ${i} lies outside the text bytes`);
    }
    const textOf = (index: number, what: string): string => {
      if (index >= c.texts) throw new BulkStatsFormatError(`${what} names text ${index} of ${c.texts}`);
      return this.#text(index);
    };
    const keyTable = new Uint32Array(buf, at.keyTable, c.keys);
    const keys = Array.from(keyTable, (t, i) => textOf(t, `key ${i}`));
    const shapeTable = new Uint32Array(buf, at.shapeTable, 2 * c.shapes);
    const shapeKeys = new Uint16Array(buf, at.shapeKeys, c.shapeEntries);
    const shapeTypes = new Uint8Array(buf, at.shapeTypes, c.shapeEntries);
    /** Per shape, the positions of its string values (their text indexes are checked per VM). */
    const stringsAt: number[][] = [];
    for (let s = 0; s < c.shapes; s++) {
      const from = shapeTable[2 * s]!;
      const count = shapeTable[2 * s + 1]!;
      if (from + count > c.shapeEntries) throw new BulkStatsFormatError(`shape ${s}'s keys ${from}+${count} run past the ${c.shapeEntries} shape entries`);
      const names: string[] = [];
      const types: number[] = [];
      const strings: number[] = [];
      for (let i = 0; i < count; i++) {
        const k = shapeKeys[from + i]!;
        const type = shapeTypes[from + i]!;
        if (k >= c.keys) throw new BulkStatsFormatError(`shape ${s} entry ${i} names key ${k} of ${c.keys}`);
        if (type !== NUMBER && type !== STRING && type !== BOOLEAN) throw new BulkStatsFormatError(`shape ${s} entry ${i} has unknown type ${type}`);
        if (type === STRING) strings.push(i);
        names.push(keys[k]!);
        types.push(type);
      }
      this.#shapes.push({ keys: names, types, build: undefined });
      stringsAt.push(strings);
    }
    const vmTable = new Uint32Array(buf, at.vmTable, 3 * c.vms);
    for (let v = 0; v < c.vms; v++) {
      const uuid = textOf(vmTable[3 * v]!, `vm ${v}'s uuid`);
      const first = vmTable[3 * v + 1]!;
      const shape = vmTable[3 * v + 2]!;
      if (shape >= c.shapes) throw new BulkStatsFormatError(`vm ${uuid} names shape ${shape} of ${c.shapes}`);
      const count = this.#shapes[shape]!.keys.length;
      if (first + count > c.entries) throw new BulkStatsFormatError(`vm ${uuid}'s entries ${first}+${count} run past the ${c.entries} entries`);
      for (const i of stringsAt[shape]!) {
        const t = this.#values[first + i]!;
        if (!Number.isInteger(t) || t < 0 || t >= c.texts) throw new BulkStatsFormatError(`vm ${uuid}'s ${this.#shapes[shape]!.keys[i]} names text ${t} of ${c.texts}`);
      }
      if (this.#vms.has(uuid)) throw new BulkStatsFormatError(`vm ${uuid} appears twice`);
      this.#vms.set(uuid, { first, shape });
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
    const shape = this.#shapes[vm.shape]!;
    const build = (shape.build ??= builderFor(shape.keys, shape.types));
    return build(this.#values, vm.first, this.#text);
  }

  /** Every VM's record (tests, diagnostics). */
  toObject(): Record<string, Record<string, BulkStatsValue>> {
    const out: Record<string, Record<string, BulkStatsValue>> = {};
    for (const uuid of this.#vms.keys()) out[uuid] = this.record(uuid)!;
    return out;
  }
}
