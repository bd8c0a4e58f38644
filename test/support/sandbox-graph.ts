// The options of a GraphTarget that reaches the sandbox with its demo app's client secret (the tests add their own).
import type { Sandbox } from '../../src/sandbox/index.ts';

export function sandboxGraphOptions(sandbox: Sandbox, instance: string, allDayTimeZone = 'Europe/Amsterdam') {
  return {
    instance,
    tenantId: sandbox.tenantId,
    clientId: sandbox.demoCredentials.clientId,
    credential: { kind: 'secret' as const, secret: sandbox.demoCredentials.clientSecret },
    authorityHost: sandbox.url,
    graphBaseUrl: sandbox.graphBaseUrl,
    scope: 'https://graph.microsoft.com/.default',
    caPem: sandbox.caPem,
    allDayTimeZone,
  };
}
