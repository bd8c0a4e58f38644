// Which calpush to run. An installed package (under node_modules, or without src/: the npm package ships dist/
// only) always runs dist/, the JavaScript `npm pack` built; Node refuses to strip types under node_modules anyway.
// In a checkout: dist/ (built by `npm ci` / `npm run build`) while it is newer than every source file, else src/
// (a checkout without a build, or a source edited since the build), which Node runs by stripping the types.
// CALPUSH_FROM_SOURCE=1 always runs src/ in a checkout.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** @param {URL} root the package's root (ends with "/") */
export function isInstalledPackage(root) {
  return fileURLToPath(root).split(/[\\/]/).includes('node_modules') || !existsSync(new URL('src/cli/main.ts', root));
}

/** @param {URL} root the repository's or package's root (ends with "/") @param {Record<string, string | undefined>} env */
export function chooseEntry(root, env = process.env) {
  const dist = new URL('dist/cli/main.js', root);
  if (isInstalledPackage(root)) return dist;
  const built = new URL('dist/BUILT', root);
  if (env.CALPUSH_FROM_SOURCE !== '1' && existsSync(built)) {
    const builtAt = statSync(built).mtimeMs;
    const stale = readdirSync(new URL('src/', root), { recursive: true, withFileTypes: true }).some(
      (file) => file.isFile() && statSync(`${file.parentPath}/${file.name}`).mtimeMs > builtAt,
    );
    if (!stale) return dist;
  }
  return new URL('src/cli/main.ts', root);
}
