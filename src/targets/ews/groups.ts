// The members of a distribution group on Exchange Web Services: `ExpandDL` with the group's address
// (https://learn.microsoft.com/exchange/client-developer/web-service-reference/expanddl), as schema-valid SOAP
// (messages.xsd ExpandDLType: one Mailbox, an EmailAddressType). ExpandDL expands one level: a nested public group
// comes back as a Mailbox with MailboxType PublicDL, to be expanded in turn (engine/groups.ts bounds the depth);
// private DLs (a user's contact groups) and contacts are not members who send meeting requests and are left out.
// An address that names no group answers ErrorNameResolutionNoResults.
import { GROUP_NOT_FOUND, type GroupDirectory, type GroupPage } from '../groups.ts';
import { TargetError, type ServiceLane } from '../target.ts';
import type { ResponseMessage } from './responses.ts';
import { child, children, el, text, type XmlElement } from './xml.ts';

export interface EwsGroupConnection {
  laneFor(group: string): ServiceLane;
  /** One ExpandDL request as a service account; its response message (an error one only for an unknown group). */
  call(group: string, body: XmlElement): Promise<ResponseMessage>;
}

export function expandDlBody(group: string): XmlElement {
  return el('m:ExpandDL', {}, el('m:Mailbox', {}, el('t:EmailAddress', {}, group)));
}

export class EwsGroupDirectory implements GroupDirectory {
  readonly kind = 'ews' as const;
  private readonly ews: EwsGroupConnection;
  constructor(ews: EwsGroupConnection) {
    this.ews = ews;
  }

  laneFor(group: string): ServiceLane {
    return this.ews.laneFor(group);
  }

  async members(group: string): Promise<GroupPage> {
    const message = await this.ews.call(group, expandDlBody(group));
    if (message.responseClass === 'Error') {
      throw new TargetError('item', GROUP_NOT_FOUND, `Exchange knows no group ${group}: ${message.message || message.code}`, {
        remedy: 'name a distribution group by its primary SMTP address (Get-DistributionGroup lists them)',
      });
    }
    const page: GroupPage = { members: [], groups: [], next: null };
    for (const mailbox of children(child(message.node, 'DLExpansion'), 'Mailbox')) {
      const address = text(child(mailbox, 'EmailAddress')).trim().toLowerCase();
      if (!address.includes('@')) continue;
      const type = text(child(mailbox, 'MailboxType'));
      if (type === 'PublicDL') page.groups.push(address);
      else if (type === 'Mailbox' || type === 'User' || type === '') page.members.push(address);
    }
    return page;
  }
}
