// A small serialised result served many times as it is (Host.getStats between two fills of its report):
// RawJson that keeps its UTF-8 bytes beside the text, made once. The small-reply path copies these
// bytes into each MESSAGE frame (rpc/reply-encoder.ts smallReplyBody, rpc/stomp-frame.ts
// encodeMessageSpliced) instead of measuring the text's UTF-8 size, flattening the reply string and
// encoding it again per request. Everything else sees a RawJson of the same text.
import { RawJson } from './raw-json.js';

export class RawJsonBytes extends RawJson {
  /** The text's UTF-8 bytes (never written to). */
  readonly bytes: Buffer;

  /** `text`: valid JSON text of one value. */
  constructor(text: string) {
    super(text);
    this.bytes = Buffer.from(text, 'utf8');
  }
}
