// Summarises a V8 .cpuprofile (node --cpu-prof, or the inspector's Profiler.stop) into what bounds a run:
// - self time by category: a package in node_modules, a calpush source directory, a Node internal module, a
//   native function (JSON.parse, SQLite's StatementSync.run, crypto digests…), GC, idle;
// - time by the innermost repository source file on the stack (so native SQLite calls count for src/store/…);
// - the hottest functions by self time.
//
//   node bench/graph/profile-summary.ts <file.cpuprofile> [more…]
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  totalMs: number;
  /** ms not idle */
  busyMs: number;
  byCategory: Array<{ name: string; ms: number }>;
  byRepoFile: Array<{ name: string; ms: number }>;
  topFunctions: Array<{ name: string; ms: number }>;
  text: string;
}

function pathOf(url: string, repoRoot: string): string {
  if (url.startsWith('file://')) {
    try {
      return relative(repoRoot, fileURLToPath(url));
    } catch {
      return url;
    }
  }
  return url.startsWith('/') ? relative(repoRoot, url) : url;
}

function category(frame: CallFrame, repoRoot: string): string {
  const { functionName, url } = frame;
  if (!url) {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'V8/native (program)';
    if (functionName === '(root)') return 'root';
    return `native ${functionName || '(anonymous)'}`;
  }
  if (url.startsWith('node:')) {
    const rest = url.slice(5).replace(/^internal\//, '');
    const parts = rest.split('/');
    return `node:${parts[0] === 'deps' ? parts.slice(0, 2).join('/') : parts[0]}`;
  }
  const path = pathOf(url, repoRoot);
  const nm = path.lastIndexOf('node_modules/');
  if (nm !== -1) {
    const parts = path.slice(nm + 'node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  const parts = path.split('/');
  if (parts[0] === 'src' || parts[0] === 'bench' || parts[0] === 'test') return parts.slice(0, Math.min(3, parts.length - 1)).join('/');
  return path;
}

function isRepoFile(url: string, repoRoot: string): string | null {
  if (!url || url.startsWith('node:')) return null;
  const path = pathOf(url, repoRoot);
  if (path.includes('node_modules/') || path.startsWith('..')) return null;
  return path;
}

function top(map: Map<string, number>, n: number): Array<{ name: string; ms: number }> {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, us]) => ({ name, ms: us / 1000 }));
}

export function summarizeProfile(file: string, repoRoot: string = resolve(import.meta.dirname, '../..')): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const byCategory = new Map<string, number>();
  const byFunction = new Map<string, number>();
  const byRepoFile = new Map<string, number>();
  const innermostRepo = new Map<number, string>();
  const repoFileFor = (id: number): string => {
    const cached = innermostRepo.get(id);
    if (cached !== undefined) return cached;
    let result = '(no repository frame: node internals, GC, idle)';
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const path = isRepoFile(byId.get(cur)!.callFrame.url, repoRoot);
      if (path) {
        result = path;
        break;
      }
    }
    innermostRepo.set(id, result);
    return result;
  };
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    const cat = category(node.callFrame, repoRoot);
    total += us;
    if (cat === 'idle') {
      idle += us;
      continue;
    }
    byCategory.set(cat, (byCategory.get(cat) ?? 0) + us);
    const where = node.callFrame.url ? `${pathOf(node.callFrame.url, repoRoot)}:${node.callFrame.lineNumber + 1}` : '(native)';
    const fname = `${node.callFrame.functionName || '(anonymous)'} ${where}`;
    byFunction.set(fname, (byFunction.get(fname) ?? 0) + us);
    const file = ['GC', 'V8/native (program)'].includes(cat) ? `(${cat})` : repoFileFor(id);
    byRepoFile.set(file, (byRepoFile.get(file) ?? 0) + us);
  }
  const busy = total - idle;
  const pct = (us: number) => `${((us / 1000 / (busy / 1000)) * 100).toFixed(1).padStart(5)} %`;
  const summary: ProfileSummary = {
    totalMs: total / 1000,
    busyMs: busy / 1000,
    byCategory: top(byCategory, 14),
    byRepoFile: top(byRepoFile, 14),
    topFunctions: top(byFunction, 15),
    text: '',
  };
  const lines: string[] = [];
  lines.push(`  sampled ${(total / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(1)} s (${((busy / Math.max(1, total)) * 100).toFixed(0)} %), idle ${(idle / 1e6).toFixed(1)} s`);
  lines.push('  self time by category (share of busy time):');
  for (const { name, ms } of summary.byCategory) lines.push(`    ${pct(ms * 1000)}  ${name}`);
  lines.push('  by innermost repository file on the stack:');
  for (const { name, ms } of summary.byRepoFile) lines.push(`    ${pct(ms * 1000)}  ${name}`);
  lines.push('  hottest functions (self):');
  for (const { name, ms } of summary.topFunctions) lines.push(`    ${pct(ms * 1000)}  ${name}`);
  summary.text = lines.join('\n');
  return summary;
}

if (import.meta.main) {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    process.stderr.write('usage: node bench/graph/profile-summary.ts <file.cpuprofile>…\n');
    process.exit(2);
  }
  for (const file of files) process.stdout.write(`${file}\n${summarizeProfile(file).text}\n`);
}
