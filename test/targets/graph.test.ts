// The contract suite (contract.ts) against the Microsoft Graph target and the sandbox's Graph endpoint.
import { GraphTarget } from '../../src/targets/graph/target.ts';
import { contractSuite } from './contract.ts';
import { sandboxServer } from './sandbox-server.ts';

contractSuite('Microsoft Graph (sandbox)', { batch: true, repeatedCreate: true, forbiddenMailbox: true, missingMailbox: true }, () =>
  sandboxServer(
    (sandbox, { instance, pageSize }) =>
      new GraphTarget({
        instance,
        tenantId: sandbox.tenantId,
        clientId: sandbox.demoCredentials.clientId,
        credential: { kind: 'secret', secret: sandbox.demoCredentials.clientSecret },
        authorityHost: sandbox.url,
        graphBaseUrl: sandbox.graphBaseUrl,
        scope: 'https://graph.microsoft.com/.default',
        caPem: sandbox.caPem,
        allDayTimeZone: 'Europe/Amsterdam',
        ...(pageSize ? { pageSize } : {}),
      }),
  ),
);
