// `--set section.key=value`: one key overridden from the command line, applied after every file.
import { ConfigurationError } from './violations.js';

export interface SetOption {
  readonly section: string;
  /** Lower-cased like keys read from files. */
  readonly key: string;
  /** Raw text, interpolated like a file value (`%%` for a literal percent sign). */
  readonly value: string;
  /** The option as given, for messages and `show-config`. */
  readonly option: string;
}

/** Parse 'section.key=value'; throws INVALID_CONFIGURATION saying what is wrong. */
export function parseSetOption(option: string): SetOption {
  const fail = (why: string): never => {
    throw new ConfigurationError([{ where: '--set', message: `${JSON.stringify(option)}: ${why}; expected section.key=value, e.g. addresses.management_port=54322` }]);
  };
  const eq = option.indexOf('=');
  if (eq < 0) return fail("missing '='");
  const name = option.slice(0, eq).trim();
  const dot = name.indexOf('.');
  if (dot < 0) return fail("missing '.' between section and key");
  const section = name.slice(0, dot).trim();
  const key = name.slice(dot + 1).trim().toLowerCase();
  if (section === '') return fail('empty section name');
  if (key === '') return fail('empty key name');
  return { section, key, value: option.slice(eq + 1).trim(), option };
}
