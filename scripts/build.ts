// `npm run build` (also run by `npm ci`/`npm install` and `npm pack` through "prepare"): compiles src/ to
// JavaScript and type declarations in dist/ with tsc (tsconfig.build.json) and copies the files that are not
// TypeScript (the sandbox's schemas and their licence). The npm package holds dist/ and runs only it; in a checkout
// a calpush process started from dist/ skips Node's type stripping (a fixed ~0.2–0.3 s per process), and
// bin/calpush.js uses dist/ only while dist/BUILT is newer than every file in src/, so an edited source is never
// run stale.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const dist = join(root, 'dist');

rmSync(dist, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (tsc.status !== 0) {
  rmSync(dist, { recursive: true, force: true });
  console.error('build failed: dist/ removed, calpush runs from src/');
  process.exit(tsc.status ?? 1);
}
let assets = 0;
for (const entry of readdirSync(src, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || entry.name.endsWith('.ts')) continue;
  const from = join(entry.parentPath, entry.name);
  const to = join(dist, relative(src, from));
  mkdirSync(dirname(to), { recursive: true });
  cpSync(from, to);
  assets++;
}
writeFileSync(join(dist, 'BUILT'), `${new Date().toISOString()}\n`);
console.error(`built dist/ (${assets} asset files copied)`);
