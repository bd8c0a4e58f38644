// Reading a passphrase from the terminal without echoing it.
import type { ReadStream } from 'node:tty';
import { CalpushError } from '../model/errors.ts';

export class PromptCancelled extends CalpushError {
  constructor() {
    super('PromptCancelled', 'cancelled');
  }
}

/** Reads one line from a TTY with echo off. Throws PromptCancelled on Ctrl-C or Ctrl-D. */
export function promptHidden(question: string, input: ReadStream = process.stdin as ReadStream, output: NodeJS.WritableStream = process.stderr): Promise<string> {
  if (!input.isTTY) return Promise.reject(new Error('not a terminal'));
  output.write(question);
  input.setRawMode(true);
  input.resume();
  input.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = () => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      output.write('\n');
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          finish();
          resolve(value);
          return;
        }
        if (ch === '\u0003' || ch === '\u0004') {
          finish();
          reject(new PromptCancelled());
          return;
        }
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    input.on('data', onData);
  });
}
