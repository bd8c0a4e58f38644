// Which calpush to run: dist/ (JavaScript built by `npm ci` / `npm run build`) while it is newer than every
// source file, else src/ (a checkout without a build, or a source edited since the build), which Node runs by
// stripping the types. CALPUSH_FROM_SOURCE=1 always runs src/.
import { existsSync, readdirSync, statSync } from 'node:fs';

/** @param {URL} root the repository's root (ends with "/") @param {Record<string, string | undefined>} env */
export function chooseEntry(root, env = process.env) {
  const built = new URL('dist/BUILT', root);
  if (env.CALPUSH_FROM_SOURCE !== '1' && existsSync(built)) {
    const builtAt = statSync(built).mtimeMs;
    const stale = readdirSync(new URL('src/', root), { recursive: true, withFileTypes: true }).some(
      (file) => file.isFile() && statSync(`${file.parentPath}/${file.name}`).mtimeMs > builtAt,
    );
    if (!stale) return new URL('dist/cli/main.js', root);
  }
  return new URL('src/cli/main.ts', root);
}
