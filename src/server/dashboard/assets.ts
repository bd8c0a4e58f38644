// The dashboard's static files: its stylesheet and script (beside this module, copied to dist/ by the build) and
// Swagger UI's bundle from the swagger-ui-dist package, which renders the OpenAPI document. Only these named files
// are served — no directory is exposed — and nothing is fetched from anywhere else at run time: the browser gets
// every file from calpush itself (no CDN). Each is read once, when first asked for, and kept.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const OWN = fileURLToPath(new URL('./assets/', import.meta.url));
const swaggerUiDir = (): string => dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/** URL path → where the file is and its media type. */
const FILES: Record<string, { path: () => string; type: string }> = {
  '/assets/dashboard.css': { path: () => join(OWN, 'dashboard.css'), type: 'text/css; charset=utf-8' },
  '/assets/dashboard.js': { path: () => join(OWN, 'dashboard.js'), type: 'text/javascript; charset=utf-8' },
  '/assets/swagger-init.js': { path: () => join(OWN, 'swagger-init.js'), type: 'text/javascript; charset=utf-8' },
  '/assets/swagger-ui/swagger-ui.css': { path: () => join(swaggerUiDir(), 'swagger-ui.css'), type: 'text/css; charset=utf-8' },
  '/assets/swagger-ui/swagger-ui-bundle.js': { path: () => join(swaggerUiDir(), 'swagger-ui-bundle.js'), type: 'text/javascript; charset=utf-8' },
  // Browsers ask for /favicon.ico on their own: answered here, not by the push API's 401 (which would count as a
  // failed authentication of the operator's address).
  '/favicon.ico': { path: () => join(swaggerUiDir(), 'favicon-32x32.png'), type: 'image/png' },
};

export const ASSET_PATHS = Object.keys(FILES);

const loaded = new Map<string, Asset>();

/** The asset served at `path`; throws when its file cannot be read (a broken install). */
export function asset(path: string): Asset | null {
  const file = FILES[path];
  if (!file) return null;
  let found = loaded.get(path);
  if (!found) {
    const body = readFileSync(file.path());
    found = { body, type: file.type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
    loaded.set(path, found);
  }
  return found;
}
