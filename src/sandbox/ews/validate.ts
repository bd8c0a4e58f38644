// Schema validation of EWS requests against Microsoft's schema (schema/messages.xsd + types.xsd, wrapped in a SOAP 1.1
// envelope schema, schema/request.xsd) with libxml2's xmllint (Debian package libxml2-utils; .ci/run installs it).
//
// Exchange validates every request against its schema and answers a failure with an HTTP 500 SOAP fault
// ErrorSchemaValidation carrying LineNumber/LinePosition/Violation (https://learn.microsoft.com/exchange/client-developer/web-service-reference/getserviceconfiguration-operation
// "error response" example; https://learn.microsoft.com/exchange/client-developer/web-service-reference/findconversation-operation).
//
// xmllint compiles the 600 kB schema on every run (≈0.2–0.3 s of CPU), so requests that arrive while a run is going
// are validated together in the next run (one process, many files). Without xmllint on the PATH validation is off
// and `available` says so.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SCHEMA_DIR = join(dirname(fileURLToPath(import.meta.url)), 'schema');
export const REQUEST_SCHEMA = join(SCHEMA_DIR, 'request.xsd');

export type ValidationResult = { ok: true } | { ok: false; line: number; message: string };

let xmllintPath: string | null | undefined;

/** The xmllint binary, or null when it is not installed. */
export function findXmllint(): string | null {
  if (xmllintPath !== undefined) return xmllintPath;
  const probe = spawnSync('xmllint', ['--version'], { encoding: 'utf8' });
  xmllintPath = probe.error ? null : 'xmllint';
  return xmllintPath;
}

interface Pending {
  xml: string;
  resolve: (result: ValidationResult) => void;
}

/** libxml2's "file:LINE: element X: Schemas validity error : MESSAGE" / "file:LINE: parser error : MESSAGE" lines. */
const ERROR_LINE = /^(.+?):(\d+): (?:element ([^:]+): )?(?:Schemas validity error|Schemas parser error|parser error|namespace error|validity error) : (.*)$/;

export class SchemaValidator {
  readonly available: boolean;
  private queue: Pending[] = [];
  private running = false;
  /** xmllint runs so far (a run validates every request that was waiting) */
  runs = 0;

  constructor() {
    this.available = findXmllint() !== null;
  }

  validate(xml: string): Promise<ValidationResult> {
    if (!this.available) return Promise.resolve({ ok: true });
    return new Promise((resolve) => {
      this.queue.push({ xml, resolve });
      this.pump();
    });
  }

  private pump(): void {
    if (this.running || this.queue.length === 0) return;
    const batch = this.queue.splice(0, 64);
    this.running = true;
    this.runs++;
    void this.run(batch).finally(() => {
      this.running = false;
      this.pump();
    });
  }

  private async run(batch: Pending[]): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'calpush-ews-'));
    const files = batch.map((p, i) => {
      const file = join(dir, `r${i}.xml`);
      writeFileSync(file, p.xml);
      return file;
    });
    try {
      const output = await new Promise<string>((resolve) => {
        const child = spawn(findXmllint() ?? 'xmllint', ['--noout', '--nonet', '--schema', REQUEST_SCHEMA, ...files], { stdio: ['ignore', 'pipe', 'pipe'] });
        let text = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
        child.stderr.setEncoding('utf8').on('data', (d: string) => (text += d));
        child.on('error', (error) => resolve(`spawn failed: ${error.message}`));
        child.on('close', () => resolve(text));
      });
      const firstError = new Map<string, { line: number; message: string }>();
      const failed = new Set<string>();
      for (const line of output.split('\n')) {
        const m = ERROR_LINE.exec(line);
        if (m) {
          if (!firstError.has(m[1]!)) firstError.set(m[1]!, { line: Number(m[2]), message: m[4]!.trim() });
          continue;
        }
        const f = /^(.+?) fails to validate$/.exec(line);
        if (f) failed.add(f[1]!);
      }
      batch.forEach((p, i) => {
        const file = files[i]!;
        const error = firstError.get(file);
        if (error) p.resolve({ ok: false, ...error });
        else if (failed.has(file)) p.resolve({ ok: false, line: 1, message: 'The request failed schema validation.' });
        else p.resolve({ ok: true });
      });
    } catch {
      for (const p of batch) p.resolve({ ok: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
