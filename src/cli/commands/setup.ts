// calpush setup <mode>: prints (or, with --out, writes) a ready PowerShell script that gives calpush the access
// one way of connecting needs — app registration and scoping for Microsoft Graph, service accounts and calendar
// permissions or impersonation for EWS, room lists, an equipment mailbox. Values come from the flags, or from the
// config (-c) where it has them. See docs/admin.md.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { writeScript } from '../../admin/powershell.ts';
import { generateSetupScript, type SetupOptions } from '../../admin/setup-scripts.ts';
import { loadConfig, targetConfigs, type LoadedConfig } from '../../app/config.ts';
import { namedMailboxes } from '../../app/mailboxes.ts';
import { ConfigError, resolvePath } from '../../config/secrets.ts';
import { CalpushError } from '../../model/errors.ts';

/** A flag of `calpush setup` that cannot be used as given. */
class SetupUsageError extends CalpushError {
  constructor(message: string) {
    super('UsageError', message);
  }
}

const VERSION = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? '0';
  } catch {
    return '0';
  }
})();

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DOMAIN = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;
const ADDRESS = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Every value goes into a single-quoted PowerShell string (safe for any text); these checks only catch mistakes. */
function text(flag: string, value: string | undefined, options: { required?: boolean; max?: number } = {}): string | undefined {
  if (value === undefined || value === '') {
    if (options.required) throw new SetupUsageError(`${flag} is required`);
    return undefined;
  }
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(value)) throw new SetupUsageError(`${flag} must not contain control characters or line breaks`);
  if (value.trim() !== value) throw new SetupUsageError(`${flag} has leading or trailing spaces`);
  if (options.max && value.length > options.max) throw new SetupUsageError(`${flag} must be at most ${options.max} characters`);
  return value;
}

function address(flag: string, value: string | undefined, required = false): string | undefined {
  const v = text(flag, value, { required, max: 320 });
  if (v !== undefined && !ADDRESS.test(v)) throw new SetupUsageError(`${flag} must be an address like someone@contoso.edu`);
  return v;
}

function groupIdentity(flag: string, value: string | undefined, required = false): string | undefined {
  return text(flag, value, { required, max: 256 });
}

/** Each group of a repeatable --scope-group (room lists come in buckets of 75), at most 100, each once. */
function groupIdentities(flag: string, values: string[] | undefined, required: boolean): string[] {
  const groups = [...new Set((values ?? []).map((v) => groupIdentity(flag, v, true)!))];
  if (required && groups.length === 0) throw new SetupUsageError(`${flag} is required`);
  if (groups.length > 100) throw new SetupUsageError(`${flag}: at most 100 groups in one management scope`);
  return groups;
}

function tenant(value: string | undefined): string | undefined {
  const v = text('--tenant-id', value);
  if (v !== undefined && !GUID.test(v) && !DOMAIN.test(v)) throw new SetupUsageError('--tenant-id must be the directory (tenant) GUID or a verified domain such as contoso.onmicrosoft.com');
  return v;
}

function clientIdOf(value: string | undefined): string | undefined {
  const v = text('--client-id', value);
  if (v !== undefined && !GUID.test(v)) throw new SetupUsageError('--client-id must be the application (client) id, a GUID');
  return v;
}

function exchangeKind(value: string): 'online' | 'onprem' {
  if (value !== 'online' && value !== 'onprem') throw new SetupUsageError('--exchange must be online or onprem');
  return value;
}

interface CommonOptions {
  config?: string;
  out?: string;
}

function loadOptionalConfig(path: string | undefined): LoadedConfig | undefined {
  return path ? loadConfig(path) : undefined;
}

/** calpush serve's route for the answer of a sign-in on the consent page (src/server/consent). */
const CONSENT_CALLBACK = '/connect/callback';

/** tenantId, clientId and the certificate file from a Graph config (app-only or delegated). */
function graphDefaults(loaded: LoadedConfig | undefined, kind: 'graph' | 'graph-delegated' = 'graph'): { tenantId?: string; clientId?: string; certificatePath?: string; firstMailbox?: string } {
  if (!loaded) return {};
  // The single target when it is of this kind, else the first named target of this kind.
  const target = (loaded.config.target?.kind === kind ? loaded.config.target : [...targetConfigs(loaded.config).values()].find((t) => t.kind === kind)) as
    | { kind: string; tenantId?: string; clientId?: string; credential?: { kind: string; certificate?: { file: string } } }
    | undefined;
  if (target?.kind !== kind) return {};
  const certificate = target.credential?.kind === 'certificate' ? target.credential.certificate?.file : undefined;
  return {
    ...(target.tenantId ? { tenantId: target.tenantId } : {}),
    ...(target.clientId ? { clientId: target.clientId } : {}),
    ...(certificate ? { certificatePath: resolvePath(loaded.baseDir, certificate) } : {}),
    ...(namedMailboxes(loaded.config)?.[0] ? { firstMailbox: namedMailboxes(loaded.config)![0]! } : {}),
  };
}

function emit(setup: SetupOptions, common: CommonOptions): void {
  const script = generateSetupScript(setup, VERSION);
  if (common.out) {
    const path = resolve(common.out);
    writeScript(path, script);
    process.stderr.write(`wrote ${path} (UTF-8 with BOM, CRLF). Read its header, then run it in PowerShell — first with -WhatIf.\n`);
  } else process.stdout.write(script);
}

function run(action: (options: Record<string, unknown>) => SetupOptions) {
  return (options: Record<string, unknown> & CommonOptions) => {
    try {
      emit(action(options), options);
    } catch (error) {
      if (error instanceof SetupUsageError || error instanceof ConfigError) {
        process.stderr.write(`calpush setup: ${error.message}\n`);
        process.exitCode = 2;
        return;
      }
      throw error;
    }
  };
}

function common(command: Command): Command {
  return command.option('--out <file>', 'write the script to this file (UTF-8 with BOM, CRLF) instead of printing it');
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function registerSetupCommand(program: Command): void {
  const setup = program
    .command('setup')
    .description('print a PowerShell script that sets up calpush’s access (see docs/admin.md)')
    .addHelpText('after', '\nEach script says at the top what it does and which rights it needs, looks before it creates, and holds no secret.');

  common(
    setup
      .command('graph-app')
      .description('Microsoft Graph app-only: app registration, certificate, Calendars.ReadWrite, scoped with RBAC for Applications (or an ApplicationAccessPolicy)')
      .option('-c, --config <file>', 'take tenant id, client id and certificate file from this calpush config')
      .option('--app-name <name>', 'display name of the app registration', 'calpush')
      .option('--tenant-id <id>', 'directory (tenant) id or verified domain')
      .option('--client-id <id>', 'client id of an existing app registration to complete')
      .option('--certificate <file>', 'certificate to upload (.pem/.cer/.crt: the public part)')
      .option('--scoping <kind>', 'rbac (RBAC for Applications), access-policy (legacy ApplicationAccessPolicy) or none', 'rbac')
      .option('--scope-group <group>', 'group or room list whose members calpush may write; repeat it for several (rbac: one scope on all of them), access-policy takes one mail-enabled security group', collect)
      .option('--scope-name <name>', 'management scope name (rbac)', 'calpush mailboxes')
      .option('--assignment-name <name>', 'role assignment name (rbac)', 'calpush Calendars.ReadWrite')
      .option('--test-mailbox <address>', 'a mailbox in scope, to test at the end (default: the first of the config’s mailboxes)'),
  ).action(
    run((o) => {
      const defaults = graphDefaults(loadOptionalConfig(o['config'] as string | undefined));
      const scoping = o['scoping'] as string;
      if (scoping !== 'rbac' && scoping !== 'access-policy' && scoping !== 'none') throw new SetupUsageError('--scoping must be rbac, access-policy or none');
      const scopeGroups = groupIdentities('--scope-group', o['scopeGroup'] as string[] | undefined, scoping !== 'none');
      // An ApplicationAccessPolicy names one group (PolicyScopeGroupId); nested groups count there, unlike in RBAC scopes.
      if (scoping === 'access-policy' && scopeGroups.length > 1) throw new SetupUsageError('--scoping access-policy takes one --scope-group: put the groups into one mail-enabled security group (nested groups count for an access policy), or use --scoping rbac');
      const tenantId = tenant((o['tenantId'] as string | undefined) ?? defaults.tenantId);
      const clientId = clientIdOf((o['clientId'] as string | undefined) ?? defaults.clientId);
      const certificatePath = text('--certificate', (o['certificate'] as string | undefined) ?? defaults.certificatePath);
      const testMailbox = address('--test-mailbox', (o['testMailbox'] as string | undefined) ?? defaults.firstMailbox);
      return {
        mode: 'graph-app',
        options: {
          appName: text('--app-name', o['appName'] as string, { required: true, max: 120 })!,
          ...(tenantId ? { tenantId } : {}),
          ...(clientId ? { clientId } : {}),
          ...(certificatePath ? { certificatePath: resolve(certificatePath) } : {}),
          scoping,
          ...(scopeGroups.length ? { scopeGroups } : {}),
          scopeName: text('--scope-name', o['scopeName'] as string, { required: true, max: 64 })!,
          assignmentName: text('--assignment-name', o['assignmentName'] as string, { required: true, max: 64 })!,
          ...(testMailbox ? { testMailbox } : {}),
        },
      };
    }),
  );

  common(
    setup
      .command('graph-delegated')
      .description('Microsoft Graph delegated: app registration with Calendars.ReadWrite + offline_access and calpush’s consent page as redirect URI')
      .option('-c, --config <file>', 'take tenant id and client id from this calpush config')
      .option('--redirect-uri <url>', `calpush’s consent page answer, as people reach it: <server.publicUrl>${CONSENT_CALLBACK} (the default, with -c)`)
      .option('--app-name <name>', 'display name of the app registration', 'calpush')
      .option('--tenant-id <id>', 'directory (tenant) id or verified domain')
      .option('--client-id <id>', 'client id of an existing app registration to complete')
      .option('--certificate <file>', 'certificate to upload as the app’s credential')
      .option('--admin-consent', 'consent for all users of the tenant instead of letting each user consent'),
  ).action(
    run((o) => {
      const loaded = loadOptionalConfig(o['config'] as string | undefined);
      const defaults = graphDefaults(loaded, 'graph-delegated');
      // The redirect URI is calpush serve's callback at the public URL: the two must agree, or Entra ID refuses the
      // sign-in with AADSTS50011 (https://learn.microsoft.com/entra/identity-platform/reply-url).
      const publicUrl = loaded?.config.server?.publicUrl;
      const fromConfig = publicUrl ? `${publicUrl}${CONSENT_CALLBACK}` : undefined;
      const redirectUri = text('--redirect-uri', (o['redirectUri'] as string | undefined) ?? fromConfig, { max: 256 });
      if (!redirectUri) throw new SetupUsageError(`--redirect-uri is required, or set server.publicUrl in the config given with -c (the redirect URI is then <server.publicUrl>${CONSENT_CALLBACK})`);
      let url: URL;
      try {
        url = new URL(redirectUri);
      } catch {
        throw new SetupUsageError('--redirect-uri must be an absolute URL');
      }
      if (url.protocol !== 'https:' && !(url.protocol === 'http:' && url.hostname === 'localhost')) throw new SetupUsageError('--redirect-uri must use https (http is allowed for localhost only)');
      if (url.pathname !== CONSENT_CALLBACK || url.search || url.hash) throw new SetupUsageError(`--redirect-uri must end in ${CONSENT_CALLBACK}, the route where calpush serve takes the sign-in's answer (e.g. https://calpush.contoso.edu${CONSENT_CALLBACK})`);
      if (fromConfig && redirectUri !== fromConfig) throw new SetupUsageError(`--redirect-uri ${redirectUri} does not agree with the config’s server.publicUrl (${fromConfig}): leave it out, or correct server.publicUrl`);
      const tenantId = tenant((o['tenantId'] as string | undefined) ?? defaults.tenantId);
      const clientId = clientIdOf((o['clientId'] as string | undefined) ?? defaults.clientId);
      const certificatePath = text('--certificate', (o['certificate'] as string | undefined) ?? defaults.certificatePath);
      return {
        mode: 'graph-delegated',
        options: {
          appName: text('--app-name', o['appName'] as string, { required: true, max: 120 })!,
          ...(tenantId ? { tenantId } : {}),
          ...(clientId ? { clientId } : {}),
          redirectUri,
          ...(certificatePath ? { certificatePath: resolve(certificatePath) } : {}),
          adminConsent: Boolean(o['adminConsent']),
        },
      };
    }),
  );

  common(
    setup
      .command('ews-delegate')
      .description('EWS with delegate access (Exchange Server): service accounts, a security group, calendar permissions for every mailbox in a CSV')
      .option('--service-account <sam>', 'sAMAccountName of a service account (repeat for several)', collect)
      .requiredOption('--upn-suffix <domain>', 'UPN suffix of the accounts, e.g. contoso.edu')
      .requiredOption('--ou <dn>', 'OU for the accounts and the group, e.g. "OU=Service Accounts,DC=contoso,DC=edu"')
      .option('--group-name <name>', 'security group holding the service accounts', 'calpush service accounts')
      .requiredOption('--mailboxes-csv <file>', 'CSV file (as the script will find it) with one mailbox per row')
      .option('--csv-column <name>', 'CSV column with the addresses', 'PrimarySmtpAddress')
      .option('--access-right <role>', 'calendar folder role: Editor, Author, PublishingEditor or Owner', 'Editor')
      .option('--generate-password', 'the script generates new accounts’ passwords and shows them once, instead of asking'),
  ).action(
    run((o) => {
      const accounts = ((o['serviceAccount'] as string[] | undefined) ?? ['svc-calpush']).map((a) => text('--service-account', a, { required: true, max: 20 })!);
      for (const a of accounts) if (!/^[A-Za-z0-9._-]+$/.test(a)) throw new SetupUsageError(`--service-account ${a}: a sAMAccountName holds letters, digits, dot, dash and underscore (at most 20)`);
      const upnSuffix = text('--upn-suffix', o['upnSuffix'] as string, { required: true })!;
      if (!DOMAIN.test(upnSuffix)) throw new SetupUsageError('--upn-suffix must be a domain name such as contoso.edu');
      const accessRight = o['accessRight'] as string;
      if (!['Editor', 'Author', 'PublishingEditor', 'Owner'].includes(accessRight)) throw new SetupUsageError('--access-right must be Editor, Author, PublishingEditor or Owner');
      return {
        mode: 'ews-delegate',
        options: {
          serviceAccounts: accounts,
          upnSuffix,
          organizationalUnit: text('--ou', o['ou'] as string, { required: true, max: 1024 })!,
          groupName: text('--group-name', o['groupName'] as string, { required: true, max: 64 })!,
          mailboxesCsv: text('--mailboxes-csv', o['mailboxesCsv'] as string, { required: true, max: 1024 })!,
          csvColumn: text('--csv-column', o['csvColumn'] as string, { required: true, max: 128 })!,
          accessRight: accessRight as 'Editor',
          generatePassword: Boolean(o['generatePassword']),
        },
      };
    }),
  );

  common(
    setup
      .command('ews-impersonation')
      .description('EWS with impersonation (Exchange Server): a management scope on a group or room list and an ApplicationImpersonation assignment')
      .requiredOption('--service-account <upn>', 'the service account that impersonates (UPN or DOMAIN\\sam)')
      .option('--scope-group <group>', 'group or room list whose members it may impersonate; repeat it for several', collect)
      .option('--room-list <address>', 'same as --scope-group, for a room list; repeat it for several', collect)
      .option('--scope-name <name>', 'management scope name', 'calpush impersonation scope')
      .option('--assignment-name <name>', 'role assignment name', 'calpush ApplicationImpersonation')
      .option('--test-mailbox <address>', 'a mailbox in scope, to check at the end'),
  ).action(
    run((o) => {
      const scopeGroups = groupIdentities('--scope-group', [...((o['scopeGroup'] as string[] | undefined) ?? []), ...((o['roomList'] as string[] | undefined) ?? [])], true);
      const testMailbox = address('--test-mailbox', o['testMailbox'] as string | undefined);
      return {
        mode: 'ews-impersonation',
        options: {
          serviceAccount: text('--service-account', o['serviceAccount'] as string, { required: true, max: 320 })!,
          scopeGroups,
          scopeName: text('--scope-name', o['scopeName'] as string, { required: true, max: 64 })!,
          assignmentName: text('--assignment-name', o['assignmentName'] as string, { required: true, max: 64 })!,
          ...(testMailbox ? { testMailbox } : {}),
        },
      };
    }),
  );

  common(
    setup
      .command('rooms')
      .description('room lists (New-DistributionGroup -RoomList) of at most 75 rooms from a CSV; on-premises managed by the EWS service account')
      .requiredOption('--rooms-csv <file>', 'CSV file (as the script will find it) with one room mailbox per row')
      .option('--csv-column <name>', 'CSV column with the room addresses', 'ResourceAccounts')
      .option('--name <name>', 'name of the (first) room list', 'calpush rooms')
      .option('--alias <alias>', 'alias of the (first) room list', 'calpush-rooms')
      .option('--address <address>', 'primary SMTP address of the (first) room list')
      .option('--manager <account>', 'the EWS service account that manages the lists (--exchange onprem only: Graph app-only has no service account)')
      .option('--bucket-size <n>', 'most rooms per list (at most 75)', '75')
      .option('--exchange <where>', 'online (Exchange Online) or onprem (Exchange Management Shell)', 'online'),
  ).action(
    run((o) => {
      const bucketSize = Number(o['bucketSize']);
      if (!Number.isInteger(bucketSize) || bucketSize < 1 || bucketSize > 75) throw new SetupUsageError('--bucket-size must be a whole number from 1 to 75');
      const alias = text('--alias', o['alias'] as string, { required: true, max: 64 })!;
      if (!/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]+$/.test(alias)) throw new SetupUsageError('--alias may hold letters, digits and !#$%&\'*+-/=?^_`{|}~. only');
      const primarySmtpAddress = address('--address', o['address'] as string | undefined);
      const manager = text('--manager', o['manager'] as string | undefined, { max: 320 });
      const exchange = exchangeKind(o['exchange'] as string);
      if (manager && exchange === 'online') throw new SetupUsageError('--manager is for --exchange onprem: in Exchange Online calpush reads the room lists through Microsoft Graph app-only (Place.Read.All), which has no service account to manage them');
      return {
        mode: 'rooms',
        options: {
          exchange,
          name: text('--name', o['name'] as string, { required: true, max: 61 })!,
          alias,
          ...(primarySmtpAddress ? { primarySmtpAddress } : {}),
          roomsCsv: text('--rooms-csv', o['roomsCsv'] as string, { required: true, max: 1024 })!,
          csvColumn: text('--csv-column', o['csvColumn'] as string, { required: true, max: 128 })!,
          ...(manager ? { manager } : {}),
          bucketSize,
        },
      };
    }),
  );

  common(
    setup
      .command('equipment')
      .description('an equipment mailbox (New-Mailbox -Equipment) with calendar processing for an external scheduler (Set-CalendarProcessing)')
      .requiredOption('--name <name>', 'name of the equipment mailbox')
      .requiredOption('--alias <alias>', 'alias (mail nickname)')
      .option('--display-name <name>', 'display name (default: the name)')
      .option('--address <address>', 'primary SMTP address')
      .option('--ou <ou>', 'organizational unit (onprem)')
      .option('--add-to-group <group>', 'add the mailbox to this group (calpush’s scope group)')
      .option('--exchange <where>', 'online (Exchange Online) or onprem (Exchange Management Shell)', 'online'),
  ).action(
    run((o) => {
      const exchange = exchangeKind(o['exchange'] as string);
      const name = text('--name', o['name'] as string, { required: true, max: 64 })!;
      const alias = text('--alias', o['alias'] as string, { required: true, max: 64 })!;
      if (!/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]+$/.test(alias)) throw new SetupUsageError('--alias may hold letters, digits and !#$%&\'*+-/=?^_`{|}~. only');
      const primarySmtpAddress = address('--address', o['address'] as string | undefined);
      const ou = text('--ou', o['ou'] as string | undefined, { max: 1024 });
      if (ou && exchange === 'online') throw new SetupUsageError('--ou applies to --exchange onprem only');
      const addToGroup = groupIdentity('--add-to-group', o['addToGroup'] as string | undefined);
      return {
        mode: 'equipment',
        options: {
          exchange,
          name,
          alias,
          displayName: text('--display-name', (o['displayName'] as string | undefined) ?? name, { required: true, max: 256 })!,
          ...(primarySmtpAddress ? { primarySmtpAddress } : {}),
          ...(ou ? { organizationalUnit: ou } : {}),
          ...(addToGroup ? { addToGroup } : {}),
        },
      };
    }),
  );
}
