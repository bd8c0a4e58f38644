#!/usr/bin/env node
// calpush needs Node >= 22.12 (node:sqlite, type stripping). `npm run …` and `npx calpush` put the node@24
// devDependency first on PATH; on an older node we say so instead of failing somewhere obscure.
import { enableCompileCache } from 'node:module';
import { chooseEntry } from './entry.js';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  console.error(`calpush needs Node.js >= 22.12 (this is ${process.version}). Run it through "npx calpush" or "npm run calpush --" in the project, which use the bundled Node 24.`);
  process.exit(1);
}

// Node keeps compiled modules on disk between runs: every later calpush process starts faster.
enableCompileCache();
await import(chooseEntry(new URL('../', import.meta.url)).href);
