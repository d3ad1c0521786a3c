// Problems found while loading the configuration: collected (never thrown one by one) and reported
// together in a single INVALID_CONFIGURATION error, each with the file and line where known.
import { Errors, VdsmError } from '../errors.js';

export interface Violation {
  /** File the problem is in; '--set' for command-line overrides, 'profile' for the built-in profile. */
  readonly where?: string;
  readonly line?: number;
  readonly section?: string;
  readonly key?: string;
  readonly message: string;
}

/** "file:12: [vars] ssl: message" */
export function formatViolation(v: Violation): string {
  const place = v.where === undefined ? '' : v.line === undefined ? `${v.where}: ` : `${v.where}:${v.line}: `;
  const what = v.section === undefined ? '' : v.key === undefined ? `[${v.section}] ` : `[${v.section}] ${v.key}: `;
  return `${place}${what}${v.message}`;
}

/** The one error a bad configuration produces; `violations` lists every problem found. */
export class ConfigurationError extends VdsmError {
  readonly violations: readonly Violation[];

  constructor(violations: readonly Violation[]) {
    const count = violations.length === 1 ? '1 problem' : `${violations.length} problems`;
    super(Errors.INVALID_CONFIGURATION, `${Errors.INVALID_CONFIGURATION.message} (${count}):\n${violations.map((v) => `  ${formatViolation(v)}`).join('\n')}`);
    this.name = 'ConfigurationError';
    this.violations = Object.freeze(violations.map((v) => Object.freeze({ ...v })));
  }
}
