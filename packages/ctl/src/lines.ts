// Reading standard input the way Go's bufio.Reader.ReadString('\n') and ioutil.ReadAll do.
import type { Readable } from 'node:stream';

/** Line reader: next() yields each line with its '\n', or null at end of input. */
export class LineReader {
  private buf = Buffer.alloc(0);
  private ended = false;
  private readonly it: AsyncIterator<Buffer | string>;

  constructor(stream: Readable) {
    this.it = stream[Symbol.asyncIterator]();
  }

  /** The next line including '\n'; null when input ends first (a partial last line is dropped, as ReadString reports it with an error). */
  async next(): Promise<string | null> {
    for (;;) {
      const i = this.buf.indexOf(0x0a);
      if (i >= 0) {
        const line = this.buf.subarray(0, i + 1).toString('utf8');
        this.buf = this.buf.subarray(i + 1);
        return line;
      }
      if (this.ended) return null;
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        continue;
      }
      const chunk = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      this.buf = Buffer.concat([this.buf, chunk]);
    }
  }

  /** Stop reading (lets the process exit while stdin is still open). */
  close(): void {
    void this.it.return?.();
  }
}

/** All of standard input. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}
