import { Writable } from 'node:stream';

/** Collects the app's log lines in memory, so tests can assert what was (and was not) logged. */
export class LogCapture {
  readonly lines: string[] = [];
  readonly stream = new Writable({
    write: (chunk: Buffer, _encoding, callback) => {
      this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      callback();
    },
  });

  text(): string {
    return this.lines.join('\n');
  }
}
