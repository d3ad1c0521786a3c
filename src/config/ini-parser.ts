// A parser for vdsm.conf text with Python configparser's rules (the format vdsm reads): sections,
// `key = value` or `key: value`, full-line `#`/`;` comments, indented continuation lines, strict
// duplicates. It returns every entry with its line and every problem instead of stopping at the first.
import type { Violation } from './violations.js';

/** configparser's name for the section whose keys every section can interpolate. */
export const DEFAULT_SECTION = 'DEFAULT';

export interface IniEntry {
  readonly section: string;
  /** Lower-cased, as configparser's optionxform does. */
  readonly key: string;
  /** Continuation lines joined with '\n', trailing blank lines removed; not interpolated. */
  readonly value: string;
  readonly line: number;
}

export interface IniSection {
  readonly name: string;
  readonly line: number;
}

export interface IniDocument {
  readonly file: string;
  readonly sections: readonly IniSection[];
  readonly entries: readonly IniEntry[];
  readonly problems: readonly Violation[];
}

/** A line longer than this is refused: no legitimate vdsm.conf needs it, and it bounds memory per line. */
export const MAX_LINE_LENGTH = 64 * 1024;

// configparser's own (permissive) header pattern, matched at the start of the stripped line: the name
// runs to the last ']' and anything after it is ignored, e.g. '[vars] # x' is section 'vars'.
const SECTION_RE = /^\[(.+)\]/;
const OPTION_RE = /^(.*?)\s*([=:])\s*(.*)$/;
const COMMENT_PREFIXES = ['#', ';'];

/** Where the parser is between lines. */
const enum State {
  /** No section header yet: only blank lines and comments are allowed. */
  BeforeSection,
  /** In a section, not after an option: a more indented line is not a continuation. */
  InSection,
  /** After an option line: more indented lines continue its value. */
  InValue,
}

interface OpenValue {
  section: string;
  key: string;
  line: number;
  indent: number;
  lines: string[];
}

export function parseIni(text: string, file: string): IniDocument {
  const sections: IniSection[] = [];
  const entries: IniEntry[] = [];
  const problems: Violation[] = [];
  const seenSections = new Set<string>();
  const seenKeys = new Set<string>();
  let state = State.BeforeSection;
  let section = '';
  let open: OpenValue | undefined;

  const close = (): void => {
    if (open === undefined) return;
    entries.push({ section: open.section, key: open.key, value: open.lines.join('\n').trimEnd(), line: open.line });
    open = undefined;
  };

  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();

  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    if (raw.length > MAX_LINE_LENGTH) {
      problems.push({ where: file, line: lineNo, message: `line longer than ${MAX_LINE_LENGTH} characters` });
      return;
    }
    const stripped = raw.trim();
    if (COMMENT_PREFIXES.some((p) => stripped.startsWith(p))) return;
    if (stripped === '') {
      // Blank lines may sit inside a multi-line value; trailing ones are trimmed when it closes.
      if (state === State.InValue && open !== undefined) open.lines.push('');
      return;
    }
    const indent = raw.length - raw.trimStart().length;
    if (state === State.InValue && open !== undefined && indent > open.indent) {
      open.lines.push(stripped);
      return;
    }
    close();

    const header = SECTION_RE.exec(stripped);
    if (header) {
      section = header[1]!;
      // configparser does not count [DEFAULT] as a section: it may appear more than once.
      if (section !== DEFAULT_SECTION && seenSections.has(section)) problems.push({ where: file, line: lineNo, message: `section [${section}] appears twice in this file` });
      seenSections.add(section);
      sections.push({ name: section, line: lineNo });
      state = State.InSection;
      return;
    }
    if (state === State.BeforeSection) {
      problems.push({ where: file, line: lineNo, message: `${JSON.stringify(stripped)} comes before any [section] header` });
      return;
    }
    const option = OPTION_RE.exec(stripped);
    if (!option || option[1] === '') {
      problems.push({ where: file, line: lineNo, section, message: `cannot parse ${JSON.stringify(stripped)}: expected "key = value" or "key: value"` });
      state = State.InSection;
      return;
    }
    const key = option[1]!.toLowerCase();
    const id = `${section}\0${key}`;
    if (seenKeys.has(id)) problems.push({ where: file, line: lineNo, section, key, message: 'key appears twice in this section of this file' });
    seenKeys.add(id);
    open = { section, key, line: lineNo, indent, lines: [option[3]!] };
    state = State.InValue;
  });
  close();
  return { file, sections, entries, problems };
}
