// Parsing `dmidecode -t 1` text into vdsm's Host.getHardwareInfo keys. Pure: tested on output captured
// from real machines and on output the real dmidecode prints for SMBIOS tables a test writes.
//
// The text is a list of structures, each "Handle 0x...., DMI type N, L bytes", a title line and
// "<indent>Key: Value" lines (deeper indentation for list values such as Characteristics), ended by a
// blank line. vdsm (dmidecodeUtil.py) reports six keys of the System Information structure (type 1)
// and leaves out "Not Specified"; dmidecode's own markers for broken tables are left out too.
import type { HardwareInfo } from '../contracts/api-types.js';

export type { HardwareInfo };

/** dmidecode field -> Host.getHardwareInfo key. */
const FIELDS: Readonly<Record<string, keyof HardwareInfo>> = Object.freeze({
  Manufacturer: 'systemManufacturer',
  'Product Name': 'systemProductName',
  Version: 'systemVersion',
  'Serial Number': 'systemSerialNumber',
  UUID: 'systemUUID',
  Family: 'systemFamily',
});

/** Values that mean "nothing here". */
const PLACEHOLDERS = new Set(['', 'Not Specified', '<BAD INDEX>', '<OUT OF SPEC>']);

export interface DmiStructure {
  handle: string;
  type: number;
  title: string;
  /** Top-level "Key: Value" fields (list-valued keys hold their item lines). */
  fields: Record<string, string | string[]>;
}

const HANDLE_RE = /^Handle (0x[0-9A-Fa-f]+), DMI type (\d+), \d+ bytes$/;

/** Every structure in dmidecode's text output, in order. */
export function parseDmidecode(text: string): DmiStructure[] {
  const out: DmiStructure[] = [];
  let cur: DmiStructure | undefined;
  let expectTitle = false;
  let listKey: string | undefined;
  let fieldIndent = -1;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const m = HANDLE_RE.exec(line.trim());
    if (m) {
      cur = { handle: m[1]!, type: Number(m[2]), title: '', fields: {} };
      out.push(cur);
      expectTitle = true;
      listKey = undefined;
      fieldIndent = -1;
      continue;
    }
    if (cur === undefined) continue;
    if (line.trim() === '') {
      // A blank line ends the structure (dmidecode prints one after each).
      if (!expectTitle) cur = undefined;
      continue;
    }
    if (expectTitle) {
      cur.title = line.trim();
      expectTitle = false;
      continue;
    }
    const indent = line.length - line.trimStart().length;
    if (fieldIndent < 0) fieldIndent = indent;
    if (indent > fieldIndent && listKey !== undefined) {
      (cur.fields[listKey] as string[]).push(line.trim());
      continue;
    }
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (value === '') {
      // "Characteristics:" with item lines below, or an empty field ("Version:").
      cur.fields[key] = [];
      listKey = key;
    } else {
      cur.fields[key] = value;
      listKey = undefined;
    }
  }
  return out;
}

/** Host.getHardwareInfo from dmidecode's text, or undefined when it holds no System Information. */
export function hardwareInfoFromDmidecode(text: string): HardwareInfo | undefined {
  const system = parseDmidecode(text).find((st) => st.type === 1);
  if (system === undefined) return undefined;
  const info: HardwareInfo = {};
  for (const [field, key] of Object.entries(FIELDS)) {
    const v = system.fields[field];
    if (typeof v === 'string' && !PLACEHOLDERS.has(v)) info[key] = v;
  }
  return info;
}
