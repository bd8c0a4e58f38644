// The contract suite (contract.ts) against the CalDAV target and real servers the test starts on loopback: Radicale
// (with authentication and rights) and Xandikos (without authentication).
import { contractSuite } from './contract.ts';
import { caldavServer } from './caldav-server.ts';

const noBatch = { lacks: 'CalDAV writes one calendar object per request (RFC 4791 has no batch of PUTs and DELETEs)' };

contractSuite('CalDAV (Radicale)', { batch: noBatch, repeatedCreate: true, forbiddenMailbox: true, missingMailbox: true }, () => caldavServer('radicale'));

contractSuite(
  'CalDAV (Xandikos)',
  { batch: noBatch, repeatedCreate: true, forbiddenMailbox: { lacks: 'Xandikos has no authentication: it leaves access control to a reverse proxy in front of it' }, missingMailbox: true },
  () => caldavServer('xandikos'),
);
