// JSON text that is already serialised: a handler returns it so the JSON-RPC layer splices it into the
// response as is (a report built once per change is not parsed and stringified again per request).
// Anything else that stringifies it still gets the right value, through toJSON (slowly).

export class RawJson {
  /** Valid JSON text of one value. */
  readonly text: string;

  constructor(text: string) {
    this.text = text;
  }

  /** The value, for a JSON.stringify that does not know RawJson (parses the text). */
  toJSON(): unknown {
    return JSON.parse(this.text);
  }
}

/** Join already serialised values into a JSON array text. */
export function rawJsonArray(items: readonly string[]): RawJson {
  return new RawJson(`[${items.join(',')}]`);
}
