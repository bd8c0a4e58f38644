// The import rules of calpush's architecture (docs/architecture.md), checked by test/architecture.test.ts on every
// `npm test` and in CI; `npx depcruise src` prints them for a person. Each rule says why in its comment.
//
// TypeScript 7.0 ships no compiler API, which dependency-cruiser needs for its "tsc" parser (it supports the native
// compiler from 7.1), so the sources are read with swc (@swc/core, a devDependency): it sees type-only imports too.

/** Any module of src/ outside these parts (a new part too: it is allowed only once a rule says so). */
const outside = (...parts) => `^src/(?!(${parts.join('|')})/)`;

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'A cycle makes two modules one: neither can be understood, tested or loaded without the other.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'model-is-the-ground-floor',
      comment: 'model/ (events, times, the tag, shared rows, clock, errors) is imported by everything and imports nothing of calpush.',
      severity: 'error',
      from: { path: '^src/model/' },
      to: { path: outside('model') },
    },
    {
      name: 'config-building-blocks',
      comment: 'config/ holds the pieces every config section uses (secret references, ConfigError); the assembled config is app/.',
      severity: 'error',
      from: { path: '^src/config/' },
      to: { path: outside('config', 'model') },
    },
    {
      name: 'store-knows-rows',
      comment: 'The store keeps rows (model/rows.ts), not input formats: it never imports sources/, nor anything above it (config/: the secret references of its section).',
      severity: 'error',
      from: { path: '^src/store/' },
      to: { path: outside('store', 'model', 'config') },
    },
    {
      name: 'planner-is-pure',
      comment: 'The planner gets rows and returns operations: no store, no target, no engine, no I/O, no clock of its own.',
      severity: 'error',
      from: { path: '^src/planner/' },
      to: { pathNot: '^(src/(planner|model)/|(node:)?crypto$)' },
    },
    {
      name: 'sources-feed-the-store',
      comment: 'Sources turn input into desired events for the store; they never plan, deliver or reach a target.',
      severity: 'error',
      from: { path: '^src/sources/' },
      to: { path: outside('sources', 'store', 'model', 'config') },
    },
    {
      name: 'targets-are-called',
      comment: 'A target is called by the engine (one request per call); it never calls back up, nor reads the store.',
      severity: 'error',
      from: { path: '^src/targets/' },
      to: { path: outside('targets', 'model', 'config') },
    },
    {
      name: 'targets-side-by-side',
      comment: 'Each target stands on the shared interface (targets/*.ts) and model/ (the tag is model/tag.ts), not on another target; EWS may take Entra ID tokens from the Graph token provider (Exchange Online OAuth).',
      severity: 'error',
      from: { path: '^src/targets/([^/]+)/' },
      to: { path: '^src/targets/[^/]+/', pathNot: ['^src/targets/$1/', '^src/targets/graph/auth\\.ts$'] },
    },
    {
      name: 'engine-below-the-edges',
      comment: 'The engine delivers rows the store holds to targets, with plans from the planner; input and the edges are above it.',
      severity: 'error',
      from: { path: '^src/engine/' },
      to: { path: outside('engine', 'planner', 'store', 'targets', 'model', 'config') },
    },
    {
      name: 'agent-policy-is-pure',
      comment: "The resource agent's policy and its joining-instructions block are functions of what they are given: no store, no target, no I/O, no clock of their own.",
      severity: 'error',
      from: { path: '^src/agent/(policy|instructions)\\.ts$' },
      to: { pathNot: '^(src/(agent/(policy|instructions)\\.ts|model/)|(node:)?crypto$)' },
    },
    {
      name: 'agent-below-the-edges',
      comment: 'The resource agent answers meeting requests through the targets, the scheduler and the store; the edges run it.',
      severity: 'error',
      from: { path: '^src/agent/' },
      to: { path: outside('agent', 'engine', 'store', 'targets', 'model', 'config') },
    },
    {
      name: 'alerts-watch-the-store',
      comment: 'The alerts look at what the store holds and send notifications; they never deliver, plan or reach a target.',
      severity: 'error',
      from: { path: '^src/alerts/' },
      to: { path: outside('alerts', 'store', 'model', 'config') },
    },
    {
      name: 'alerts-for-the-edges',
      comment: 'The alert monitor runs in calpush serve: the composition root takes its config section, the edges run it.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(alerts|app|cli|server)/' },
      to: { path: '^src/alerts/' },
    },
    {
      name: 'composition-root-only-for-edges',
      comment: 'app/ assembles the config and the parts; only the edges (cli/, server/, admin/) use it, or arrows would run back up.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(app|cli|server|admin)/' },
      to: { path: '^src/app/' },
    },
    {
      name: 'app-below-the-command-line',
      comment: 'The composition root takes the server its config section (server/config.ts), nothing else of an edge.',
      severity: 'error',
      from: { path: '^src/app/' },
      to: { path: '^src/(cli|admin|sandbox|client)/|^src/server/(?!config\\.ts$)' },
    },
    {
      name: 'cli-is-the-top',
      comment: 'Nothing imports the command line.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'admin-is-an-edge',
      comment: 'The admin toolkit (setup scripts, certificates, the doctor) is used by the command line only.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(cli|admin)/' },
      to: { path: '^src/admin/' },
    },
    {
      name: 'server-is-an-edge',
      comment: 'The push API is used by the command line; the composition root takes its config section, the client its API types.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(cli|server)/' },
      to: { path: '^src/server/', pathNot: '^src/server/(config|schemas)\\.ts$' },
    },
    {
      name: 'server-config-for-the-root',
      comment: "The server's config section is assembled by app/ only.",
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(cli|server|app)/' },
      to: { path: '^src/server/config\\.ts$' },
    },
    {
      name: 'api-types-for-the-client',
      comment: 'The API schemas are the server’s; the client (calpush/client) takes their types.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(cli|server|client)/' },
      to: { path: '^src/server/schemas\\.ts$' },
    },
    {
      name: 'client-stands-alone',
      comment: 'calpush/client runs in the source systems: the API types and the error base class, nothing of the engine.',
      severity: 'error',
      from: { path: '^src/client/' },
      to: { path: '^src/', pathNot: '^src/(client/|model/errors\\.ts$|server/schemas\\.ts$)' },
    },
    {
      name: 'doctor-never-syncs',
      comment: 'The doctor probes a target; it does not run a sync or a delivery.',
      severity: 'error',
      from: { path: '^src/admin/' },
      to: { path: '^src/(app/sync\\.ts$|engine/|sandbox/)' },
    },
    {
      name: 'sandbox-only-for-demos-and-tests',
      comment: 'The stand-in for Microsoft is for the demo, `calpush sandbox` and tests; no production code depends on it.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(sandbox/|cli/commands/(demo|demo-hybrid|demo-agent|demo-folder|sandbox)\\.ts$)' },
      to: { path: '^src/sandbox/' },
    },
    {
      name: 'sandbox-keeps-its-own-time',
      comment: 'The sandbox has its own time-zone code (and nothing else of calpush but event types), so it can catch the engine’s bugs.',
      severity: 'error',
      from: { path: '^src/sandbox/' },
      to: { path: '^src/', pathNot: '^src/(sandbox/|model/event\\.ts$)' },
    },
  ],
  options: {
    parser: 'swc',
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/sandbox/.*/schema/' },
    moduleSystems: ['es6'],
  },
};
