// The contract suite (contract.ts) against the Microsoft Graph target and the sandbox's Graph endpoint.
import { GraphTarget } from '../../src/targets/graph/target.ts';
import { contractSuite } from './contract.ts';
import { sandboxServer } from './sandbox-server.ts';
import { sandboxGraphOptions } from '../support/sandbox-graph.ts';

contractSuite('Microsoft Graph (sandbox)', { batch: true, repeatedCreate: true, forbiddenMailbox: true, missingMailbox: true }, () =>
  sandboxServer(
    (sandbox, { instance, pageSize }) =>
      new GraphTarget({
        ...sandboxGraphOptions(sandbox, instance),
        ...(pageSize ? { pageSize } : {}),
      }),
  ),
);
