// Splits a streamed body into its lines as chunks arrive (the gateway writes one JSON object a
// line). Invariant: `rest` holds only text after the last newline. Pure.
export class LineSplitter {
  private rest = '';
  push(chunk: string): string[] {
    this.rest += chunk;
    const parts = this.rest.split('\n');
    this.rest = parts.pop() ?? '';
    return parts.filter((l) => l.trim() !== '');
  }
}
