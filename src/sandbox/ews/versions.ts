// What the sandbox checks of a request's envelope beyond the schema: the SOAPAction its operation is bound to in
// Services.wsdl, and whether the requested schema version is one the Exchange it stands in for speaks.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EwsBehaviour } from '../types.ts';
import { SCHEMA_DIR } from './validate.ts';
import { NS } from './xml.ts';

/**
 * soapAction per operation as services.wsdl binds it (`<wsdl:operation name="X"><soap:operation soapAction="…"/>`).
 * The shipped WSDL is an excerpt; Exchange's full Services.wsdl binds every operation by the same rule, the messages
 * namespace + "/" + the operation (e.g. FindItem, https://github.com/Garethp/php-ews/issues/40 quoting a server's
 * Services.wsdl), which is what the excerpt's bindings follow too.
 */
const BOUND = new Map(
  [...readFileSync(join(SCHEMA_DIR, 'services.wsdl'), 'utf8').matchAll(/<wsdl:operation name="(\w+)">\s*<soap:operation soapAction="([^"]+)"/g)].map((m) => [m[1]!, m[2]!]),
);

export function expectedSoapAction(operation: string): string {
  return BOUND.get(operation) ?? `${NS.m}/${operation}`;
}

/** RequestServerVersion values in the order Exchange introduced them (types.xsd ExchangeVersionType). */
const REQUEST_VERSIONS = [
  'Exchange2007', 'Exchange2007_SP1', 'Exchange2009', 'Exchange2010', 'Exchange2010_SP1', 'Exchange2010_SP2', 'Exchange2012', 'Exchange2013',
  'Exchange2013_SP1', 'Exchange2015', 'Exchange2016', 'V2015_10_05', 'V2016_01_06', 'V2016_04_13', 'V2016_07_13', 'V2016_10_10', 'V2017_01_07',
  'V2017_04_14', 'V2017_07_11', 'V2017_10_09', 'V2018_01_08',
];

export function requestVersionRank(version: string): number {
  return REQUEST_VERSIONS.indexOf(version);
}

/** The newest RequestServerVersion each Exchange version takes; a newer one is ErrorInvalidServerVersion. */
export const SERVER_VERSION_RANK: Record<EwsBehaviour['serverVersion'], number> = {
  Exchange2010_SP2: requestVersionRank('Exchange2010_SP2'),
  Exchange2013: requestVersionRank('Exchange2013_SP1'),
  Exchange2016: requestVersionRank('V2018_01_08'),
};
