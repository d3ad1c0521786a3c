// The one Python pickle a hibernated VM's configuration volume holds: vdsm writes the VM's parameters
// there as a pickled dict and reads them back on restore, so a VM hibernated by vdsm-node resumes on a
// vdsm host and the other way round only if both speak it. Plain data only: None, booleans, integers,
// floats, strings (and Python 2 byte strings, read as Latin-1), lists, tuples (read as arrays) and dicts.
// The reader knows no opcode that names or calls Python code (GLOBAL, REDUCE, BUILD...): such a pickle is
// an error, never executed. Writes protocol 2 (every Python since 2.3 reads it); reads protocols 0-5's
// binary opcodes for that data, stopping at STOP (what follows in the volume is left-over bytes).

export type PickleValue = null | boolean | number | string | PickleValue[] | { [key: string]: PickleValue };

export class PickleError extends Error {}

// ---- writing ---------------------------------------------------------------------------------

class Writer {
  #chunks: Buffer[] = [];

  byte(...b: number[]): void {
    this.#chunks.push(Buffer.from(b));
  }

  raw(b: Buffer): void {
    this.#chunks.push(b);
  }

  value(v: PickleValue): void {
    if (v === null) this.byte(0x4e); // NONE
    else if (v === true) this.byte(0x88); // NEWTRUE
    else if (v === false) this.byte(0x89); // NEWFALSE
    else if (typeof v === 'number') this.number(v);
    else if (typeof v === 'string') {
      const s = Buffer.from(v, 'utf8');
      const head = Buffer.alloc(5);
      head[0] = 0x58; // BINUNICODE
      head.writeUInt32LE(s.length, 1);
      this.raw(head);
      this.raw(s);
    } else if (Array.isArray(v)) {
      this.byte(0x5d); // EMPTY_LIST
      if (v.length === 0) return;
      this.byte(0x28); // MARK
      for (const item of v) this.value(item);
      this.byte(0x65); // APPENDS
    } else {
      this.byte(0x7d); // EMPTY_DICT
      const keys = Object.keys(v);
      if (keys.length === 0) return;
      this.byte(0x28); // MARK
      for (const k of keys) {
        this.value(k);
        this.value(v[k]!);
      }
      this.byte(0x75); // SETITEMS
    }
  }

  number(n: number): void {
    if (Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31) {
      const b = Buffer.alloc(5);
      b[0] = 0x4a; // BININT
      b.writeInt32LE(n, 1);
      this.raw(b);
    } else {
      const b = Buffer.alloc(9);
      b[0] = 0x47; // BINFLOAT (big-endian double)
      b.writeDoubleBE(n, 1);
      this.raw(b);
    }
  }

  done(): Buffer {
    return Buffer.concat(this.#chunks);
  }
}

/** `value` as a protocol-2 pickle. JSON-shaped data only (undefined members are left out). */
export function pickleDumps(value: PickleValue): Buffer {
  const w = new Writer();
  w.byte(0x80, 2); // PROTO 2
  w.value(JSON.parse(JSON.stringify(value)) as PickleValue);
  w.byte(0x2e); // STOP
  return w.done();
}

// ---- reading ---------------------------------------------------------------------------------

const MARK = Symbol('mark');
type Slot = PickleValue | typeof MARK;

/** The value of the pickle at the start of `buf`; PickleError for anything but plain data. */
export function pickleLoads(buf: Buffer): PickleValue {
  const stack: Slot[] = [];
  const memo = new Map<number, PickleValue>();
  let pos = 0;
  const need = (n: number): number => {
    if (pos + n > buf.length) throw new PickleError('truncated pickle');
    const at = pos;
    pos += n;
    return at;
  };
  const pop = (): PickleValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) throw new PickleError('pickle stack underflow');
    return v;
  };
  const top = (): PickleValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) throw new PickleError('pickle stack underflow');
    return v;
  };
  const popToMark = (): PickleValue[] => {
    const at = stack.lastIndexOf(MARK);
    if (at < 0) throw new PickleError('pickle MARK missing');
    const items = stack.splice(at) as Slot[];
    return items.slice(1) as PickleValue[];
  };
  const text = (len: number, enc: BufferEncoding): string => {
    const at = need(len);
    return buf.toString(enc, at, at + len);
  };
  const setItems = (dict: PickleValue, items: PickleValue[]): void => {
    if (typeof dict !== 'object' || dict === null || Array.isArray(dict)) throw new PickleError('pickle SETITEM on a non-dict');
    for (let i = 0; i + 1 < items.length; i += 2) {
      const k = items[i];
      if (typeof k !== 'string' && typeof k !== 'number') throw new PickleError('pickle dict key is not a string');
      dict[String(k)] = items[i + 1]!;
    }
  };
  const append = (list: PickleValue, items: PickleValue[]): void => {
    if (!Array.isArray(list)) throw new PickleError('pickle APPEND on a non-list');
    list.push(...items);
  };
  for (;;) {
    const op = buf[need(1)]!;
    switch (op) {
      case 0x80: need(1); break; // PROTO n
      case 0x95: need(8); break; // FRAME (protocol 4 framing: the bytes follow inline)
      case 0x2e: { // STOP
        const v = pop();
        return v;
      }
      case 0x28: stack.push(MARK); break;
      case 0x4e: stack.push(null); break;
      case 0x88: stack.push(true); break;
      case 0x89: stack.push(false); break;
      case 0x4a: stack.push(buf.readInt32LE(need(4))); break; // BININT
      case 0x4b: stack.push(buf[need(1)]!); break; // BININT1
      case 0x4d: stack.push(buf.readUInt16LE(need(2))); break; // BININT2
      case 0x8a: { // LONG1: n bytes, little-endian two's complement
        const n = buf[need(1)]!;
        const at = need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[at + i]!);
        if (n > 0 && (buf[at + n - 1]! & 0x80) !== 0) v -= 1n << BigInt(8 * n);
        stack.push(Number(v));
        break;
      }
      case 0x47: stack.push(buf.readDoubleBE(need(8))); break; // BINFLOAT
      case 0x58: stack.push(text(buf.readUInt32LE(need(4)), 'utf8')); break; // BINUNICODE
      case 0x8c: stack.push(text(buf[need(1)]!, 'utf8')); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(text(Number(buf.readBigUInt64LE(need(8))), 'utf8')); break; // BINUNICODE8
      case 0x54: stack.push(text(buf.readUInt32LE(need(4)), 'latin1')); break; // BINSTRING (py2 str)
      case 0x55: stack.push(text(buf[need(1)]!, 'latin1')); break; // SHORT_BINSTRING
      case 0x42: stack.push(text(buf.readUInt32LE(need(4)), 'latin1')); break; // BINBYTES
      case 0x43: stack.push(text(buf[need(1)]!, 'latin1')); break; // SHORT_BINBYTES
      case 0x7d: stack.push({}); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push([]); break; // EMPTY_TUPLE
      case 0x74: stack.push(popToMark()); break; // TUPLE
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); stack.push([a, b]); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); stack.push([a, b, c]); break; } // TUPLE3
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popToMark(); setItems(top(), items); break; } // SETITEMS
      case 0x61: { const v = pop(); append(top(), [v]); break; } // APPEND
      case 0x65: { const items = popToMark(); append(top(), items); break; } // APPENDS
      case 0x71: memo.set(buf[need(1)]!, top()); break; // BINPUT
      case 0x72: memo.set(buf.readUInt32LE(need(4)), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: stack.push(memoGet(memo, buf[need(1)]!)); break; // BINGET
      case 0x6a: stack.push(memoGet(memo, buf.readUInt32LE(need(4)))); break; // LONG_BINGET
      default:
        throw new PickleError(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${pos - 1} (plain data only)`);
    }
  }
}

function memoGet(memo: Map<number, PickleValue>, i: number): PickleValue {
  const v = memo.get(i);
  if (v === undefined) throw new PickleError(`pickle memo ${i} unset`);
  return v;
}
