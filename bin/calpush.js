#!/usr/bin/env node
// calpush needs Node >= 22.12 (node:sqlite, type stripping). `npm run …` and `npx calpush` put the node@24
// devDependency first on PATH; on an older node we say so instead of failing somewhere obscure.
import { enableCompileCache } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { chooseEntry } from './entry.js';
import { restartWithYoungGenerationFlag } from './young-generation.js';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  console.error(`calpush needs Node.js >= 22.12 (this is ${process.version}). Run it through "npx calpush" or "npm run calpush --" in the project, which use the bundled Node 24.`);
  process.exit(1);
}

// Peak memory: a young generation of 4 MB semi-spaces, which only a flag at Node's start can set; this restarts the
// process image with it (same pid) unless it or the user's own size is already in force. Nothing has run yet.
restartWithYoungGenerationFlag();

// Node keeps compiled modules on disk between runs: every later calpush process starts faster.
enableCompileCache();

// Peak memory: a delivery keeps ~50 MB alive, but its requests and answers live long enough to be promoted to V8's
// old generation, and V8 lets that generation grow to ~4 times what survived the last full collection before it
// collects again (its heap-growing factor, chosen by heuristics when memory is plentiful): 400–500 MB of mostly
// garbage for a bulk load (docs/benchmarks.md, "Memory"). A fixed factor of 1.3 collects sooner. The flag is read
// at each full collection, so setting it here, before any work, takes effect (Node warns that a flag changed after
// start may do nothing, https://nodejs.org/api/v8.html#v8setflagsfromstringflags; this one is measured to work).
// The young generation's size is fixed at start: see young-generation.js.
setFlagsFromString('--heap-growing-percent=30');
await import(chooseEntry(new URL('../', import.meta.url)).href);
