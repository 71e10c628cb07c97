// A process's output: appended to its log file (when it has one) and kept in memory (the last
// `capacity` lines) so a failure can show the tail without reading the file back.
import { createWriteStream, type WriteStream } from 'node:fs';

export class LogSink {
  private readonly lines: string[] = [];
  private partial = new Map<NodeJS.ReadableStream, string>();
  private file: WriteStream | undefined;

  constructor(
    readonly path: string | undefined,
    private readonly capacity = 500,
  ) {
    if (path === undefined) return;
    this.file = createWriteStream(path, { flags: 'a' });
    // A failing log file must not take the launcher down; the in-memory tail still works.
    this.file.on('error', () => (this.file = undefined));
  }

  /** Follow one output stream of a process. */
  attach(stream: NodeJS.ReadableStream): void {
    stream.on('data', (chunk: Buffer) => {
      this.file?.write(chunk);
      const text = (this.partial.get(stream) ?? '') + chunk.toString('utf8');
      const parts = text.split('\n');
      this.partial.set(stream, parts.pop() ?? '');
      this.push(parts);
    });
    stream.on('end', () => {
      const rest = this.partial.get(stream);
      this.partial.delete(stream);
      if (rest) this.push([rest]);
    });
  }

  /** A line of the launcher's own (restarts, signals), marked so it stands out from the member's. */
  note(text: string): void {
    const line = `--- ${new Date().toISOString()} ${text} ---`;
    this.file?.write(line + '\n');
    this.push([line]);
  }

  /** Every kept line (at most `capacity`). */
  all(): string {
    return this.lines.join('\n');
  }

  /** The last `n` lines. */
  tail(n = 30): string {
    return this.lines.slice(-n).join('\n');
  }

  close(): Promise<void> {
    const f = this.file;
    this.file = undefined;
    if (!f) return Promise.resolve();
    return new Promise((resolve) => f.end(() => resolve()));
  }

  private push(parts: string[]): void {
    for (const p of parts) if (p !== '') this.lines.push(p);
    // Invariant: at most `capacity` lines are kept.
    if (this.lines.length > this.capacity) this.lines.splice(0, this.lines.length - this.capacity);
  }
}
