// Preloaded into every benchmarked child process (`node --import ./bench/graph/probe.ts …`): when the process
// exits, it writes its own CPU time and peak RSS to the file named by CALPUSH_BENCH_PROBE. The child measures
// itself, so the numbers are that process alone — not the sandbox, not the benchmark driver.
import { writeFileSync } from 'node:fs';

const out = process.env.CALPUSH_BENCH_PROBE;
if (out) {
  const startedAt = Date.now() - Math.round(process.uptime() * 1000);
  process.on('exit', (code) => {
    const cpu = process.cpuUsage();
    const usage = process.resourceUsage();
    writeFileSync(
      out,
      JSON.stringify({
        pid: process.pid,
        exitCode: code,
        startedAtMs: startedAt,
        exitedAtMs: Date.now(),
        cpuUserMs: cpu.user / 1000,
        cpuSystemMs: cpu.system / 1000,
        // resourceUsage().maxRSS is in kilobytes (getrusage ru_maxrss on Linux)
        maxRssBytes: usage.maxRSS * 1024,
        heapUsedBytes: process.memoryUsage().heapUsed,
      }),
    );
  });
}
