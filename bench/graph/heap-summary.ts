// What a V8 heap snapshot holds, by constructor: count and self size of the objects of each kind, largest first.
//
//   node_modules/.bin/node bench/graph/heap-summary.ts <file.heapsnapshot> [--top 25]
//
// A snapshot of a few hundred MB of heap is a JSON file larger than the longest string V8 can hold, so it is read
// as a stream of bytes: the node table (type, name, self size of every object) in full, the edges skipped, and of
// the string table only the names the node table refers to (strings themselves are summed as "(string)").
import { closeSync, openSync, readSync } from 'node:fs';

const CHUNK = 16 * 2 ** 20;

/** Reads a file forwards, a byte at a time, in large chunks. */
class ByteReader {
  private readonly fd: number;
  private buffer = Buffer.alloc(0);
  private index = 0;
  private done = false;
  constructor(path: string) {
    this.fd = openSync(path, 'r');
  }
  next(): number {
    if (this.index >= this.buffer.length) {
      if (this.done) return -1;
      const chunk = Buffer.allocUnsafe(CHUNK);
      const read = readSync(this.fd, chunk, 0, CHUNK, null);
      if (read === 0) {
        this.done = true;
        return -1;
      }
      this.buffer = chunk.subarray(0, read);
      this.index = 0;
    }
    return this.buffer[this.index++]!;
  }
  /** Skips to just after `marker` (ASCII); false at the end of the file. */
  skipPast(marker: string): boolean {
    const bytes = Buffer.from(marker);
    let matched = 0;
    for (let byte = this.next(); byte >= 0; byte = this.next()) {
      matched = byte === bytes[matched] ? matched + 1 : byte === bytes[0] ? 1 : 0;
      if (matched === bytes.length) return true;
    }
    return false;
  }
  close(): void {
    closeSync(this.fd);
  }
}

interface Meta {
  node_fields: string[];
  node_types: [string[], ...unknown[]];
  node_count: number;
}

export function summarizeHeapSnapshot(path: string, top = 25): string {
  const reader = new ByteReader(path);
  try {
    // The header: {"snapshot":{"meta":{…},"node_count":…,…},"nodes":[
    let head = '';
    for (let byte = reader.next(); byte >= 0; byte = reader.next()) {
      head += String.fromCharCode(byte);
      if (head.endsWith('"nodes":[')) break;
    }
    // V8 writes a line break before "nodes".
    const snapshot = (JSON.parse(`${head.replace(/,\s*"nodes":\[$/, '')}}`) as { snapshot: { meta: Meta; node_count: number } }).snapshot;
    const fields = snapshot.meta.node_fields;
    const width = fields.length;
    const typeAt = fields.indexOf('type');
    const nameAt = fields.indexOf('name');
    const sizeAt = fields.indexOf('self_size');
    const types = snapshot.meta.node_types[0];
    const nodes = new Float64Array(snapshot.node_count * width);
    let count = 0;
    let value = 0;
    let inNumber = false;
    for (let byte = reader.next(); byte >= 0 && byte !== 0x5d; byte = reader.next()) {
      if (byte >= 0x30 && byte <= 0x39) {
        value = value * 10 + (byte - 0x30);
        inNumber = true;
      } else if (inNumber) {
        nodes[count++] = value;
        value = 0;
        inNumber = false;
      }
    }
    if (inNumber) nodes[count++] = value;
    // Which names are needed: those of the objects, closures, arrays… (a string's name is its content).
    const wanted = new Set<number>();
    for (let i = 0; i < count; i += width) if (types[nodes[i + typeAt]!] !== 'string') wanted.add(nodes[i + nameAt]!);
    const names = new Map<number, string>();
    if (reader.skipPast('"strings":[')) {
      let index = 0;
      let current: number[] | null = null;
      let escaped = false;
      for (let byte = reader.next(); byte >= 0; byte = reader.next()) {
        if (current === null) {
          if (byte === 0x22) current = [];
          else if (byte === 0x5d) break;
          continue;
        }
        if (escaped) {
          current.push(byte);
          escaped = false;
        } else if (byte === 0x5c) {
          current.push(byte);
          escaped = true;
        } else if (byte === 0x22) {
          if (wanted.has(index)) names.set(index, JSON.parse(`"${Buffer.from(current).toString('utf8')}"`) as string);
          index++;
          current = null;
        } else if (wanted.has(index)) {
          current.push(byte);
        }
      }
    }
    const groups = new Map<string, { count: number; bytes: number }>();
    let total = 0;
    for (let i = 0; i < count; i += width) {
      const type = types[nodes[i + typeAt]!] ?? '?';
      const label = type === 'object' || type === 'closure' || type === 'native' ? `${names.get(nodes[i + nameAt]!) ?? '?'}${type === 'closure' ? ' (closure)' : ''}` : `(${type}${type === 'array' || type === 'hidden' ? `: ${names.get(nodes[i + nameAt]!) ?? '?'}` : ''})`;
      const size = nodes[i + sizeAt]!;
      total += size;
      const group = groups.get(label) ?? { count: 0, bytes: 0 };
      group.count++;
      group.bytes += size;
      groups.set(label, group);
    }
    const rows = [...groups.entries()].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top);
    const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1).padStart(7);
    return [
      `  ${(count / width).toLocaleString('en')} objects, ${mb(total)} MB self size in all`,
      ...rows.map(([label, group]) => `  ${mb(group.bytes)} MB  ${String(group.count).padStart(9)}  ${label.slice(0, 90)}`),
      '',
    ].join('\n');
  } finally {
    reader.close();
  }
}

if (import.meta.main) {
  const [file, ...rest] = process.argv.slice(2);
  if (!file) throw new Error('usage: heap-summary.ts <file.heapsnapshot> [--top N]');
  const topAt = rest.indexOf('--top');
  process.stdout.write(summarizeHeapSnapshot(file, topAt >= 0 ? Number(rest[topAt + 1]) : 25));
}
