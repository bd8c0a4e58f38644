// The sandbox on its own thread for bench/ews/accounts.ts: on a two-core machine the engine and the sandbox must not
// share one event loop, or the benchmark measures their contention instead of the budgets.
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { defaultTenantSeed, startSandbox } from '../../src/sandbox/index.ts';

interface Init {
  students: number;
  rttMs: number;
  budgetItems: number;
  budgetWindowMs: number;
}

const init = workerData as Init;
const sandbox = await startSandbox({
  tenant: defaultTenantSeed({ students: init.students }),
  latency: { roundTripMs: init.rttMs },
  // A request's items charged up front (perItem: false), the budget model docs/ews.md's results were measured with.
  ews: { throttling: { enabled: true, budgetItems: init.budgetItems, budgetWindowMs: init.budgetWindowMs, perItem: false }, schemaValidation: false },
});
let elu = performance.eventLoopUtilization();
parentPort!.on('message', (message: { kind: 'stats' | 'close' | 'mark' }) => {
  if (message.kind === 'mark') elu = performance.eventLoopUtilization();
  // How busy the sandbox's thread was since the mark: near 1 means the sandbox, not the budget, set the pace.
  else if (message.kind === 'stats') parentPort!.postMessage({ kind: 'stats', stats: sandbox.ews.stats(), utilization: performance.eventLoopUtilization(elu).utilization });
  else void sandbox.close().then(() => parentPort!.postMessage({ kind: 'closed' }));
});
parentPort!.postMessage({
  kind: 'ready',
  sandbox: { url: sandbox.url, graphBaseUrl: sandbox.graphBaseUrl, tenantId: sandbox.tenantId, caPem: sandbox.caPem, demoCredentials: sandbox.demoCredentials, ewsUrl: sandbox.ews.url },
});
