// EWS service accounts of the sandbox tenant: log-in names, passwords and their rights.
//
// Two ways a service account reaches other mailboxes on Exchange Server
// (https://learn.microsoft.com/exchange/client-developer/exchange-web-services/impersonation-and-ews-in-exchange):
// - delegate access: a folder permission on the mailbox's calendar (MyTimetable grants it to a security group of
//   service accounts, MyTimetable's guide) — the request names the mailbox in DistinguishedFolderId/Mailbox
//   (https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-access-a-calendar-as-a-delegate-by-using-ews-in-exchange);
// - impersonation: the ApplicationImpersonation role, optionally limited by a management scope (e.g. the members of a
//   room list, Serraview's guide, or one equipment mailbox, Pexip's guide) — the request carries the
//   ExchangeImpersonation header (https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-configure-impersonation).
import type { EwsAccountSeed, RoomListSeed } from '../types.ts';

export interface EwsAccount {
  seed: EwsAccountSeed;
  /** canonical name used in stats: the seed's username */
  name: string;
  /** lower-cased names the account logs in with: DOMAIN\user, user@domain (UPN), user */
  logins: Set<string>;
  /** lower-cased sAMAccountName (the user part) */
  user: string;
  password: string;
  delegate: Set<string> | 'all';
  /** delegate rights withdrawn at runtime (SandboxEws.setDelegateRights), on top of `delegate` */
  withdrawn: Set<string>;
  impersonation: Set<string> | 'all' | 'none';
}

function expand(entries: string[], roomLists: RoomListSeed[]): Set<string> {
  const out = new Set<string>();
  for (const entry of entries) {
    const lower = entry.toLowerCase();
    const list = roomLists.find((l) => l.address.toLowerCase() === lower);
    if (list) for (const member of list.members) out.add(member.toLowerCase());
    else out.add(lower);
  }
  return out;
}

/** The NetBIOS domain of a DNS domain: its first label, upper-cased (contoso.edu → CONTOSO). */
export function netbiosDomain(dnsDomain: string): string {
  return (dnsDomain.split('.')[0] ?? dnsDomain).toUpperCase();
}

export class EwsAccounts {
  readonly list: EwsAccount[];
  private readonly dnsDomain: string;

  constructor(seeds: EwsAccountSeed[], roomLists: RoomListSeed[], dnsDomain: string) {
    this.dnsDomain = dnsDomain.toLowerCase();
    const nb = netbiosDomain(dnsDomain).toLowerCase();
    this.list = seeds.map((seed) => {
      const raw = seed.username.toLowerCase();
      let user: string;
      let upnDomain = this.dnsDomain;
      if (raw.includes('\\')) user = raw.split('\\')[1]!;
      else if (raw.includes('@')) {
        user = raw.split('@')[0]!;
        upnDomain = raw.split('@')[1]!;
      } else user = raw;
      const logins = new Set([raw, `${nb}\\${user}`, `${this.dnsDomain}\\${user}`, `${user}@${upnDomain}`, user]);
      return {
        seed,
        name: seed.username,
        logins,
        user,
        password: seed.password,
        delegate: seed.delegateOf === 'all' ? 'all' : expand(seed.delegateOf ?? [], roomLists),
        withdrawn: new Set<string>(),
        impersonation: seed.impersonationScope === 'all' ? 'all' : seed.impersonationScope ? expand(seed.impersonationScope, roomLists) : 'none',
      };
    });
  }

  /** The account a login name (DOMAIN\user, UPN or user; for NTLM the user and domain fields) belongs to. */
  find(login: string, domain?: string): EwsAccount | undefined {
    const name = (domain ? `${domain}\\${login}` : login).toLowerCase();
    const direct = this.list.find((a) => a.logins.has(name));
    if (direct) return direct;
    // NTLM clients may send the UPN as the user with an empty or DNS domain.
    return domain !== undefined ? this.list.find((a) => a.logins.has(login.toLowerCase())) : undefined;
  }

  static mayImpersonate(account: EwsAccount, mailbox: string): boolean {
    if (account.impersonation === 'none') return false;
    return account.impersonation === 'all' || account.impersonation.has(mailbox.toLowerCase());
  }

  static isDelegate(account: EwsAccount, mailbox: string): boolean {
    const address = mailbox.toLowerCase();
    if (account.withdrawn.has(address)) return false;
    return account.delegate === 'all' || account.delegate.has(address);
  }

  /** Add-MailboxFolderPermission (granted) / Remove-MailboxFolderPermission for one account on one mailbox. */
  setDelegate(name: string, mailbox: string, granted: boolean): void {
    const account = this.find(name);
    if (!account) throw new Error(`sandbox: no EWS account '${name}'`);
    const address = mailbox.toLowerCase();
    if (granted) {
      account.withdrawn.delete(address);
      if (account.delegate !== 'all') account.delegate.add(address);
    } else {
      account.withdrawn.add(address);
    }
  }
}
