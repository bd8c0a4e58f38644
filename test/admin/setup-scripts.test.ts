// Every script `calpush setup` writes: parsed with a real PowerShell grammar (tree-sitter-powershell), every
// command and parameter checked against the table of documented cmdlets, idempotent, headed, secret-free.
import { describe, expect, it } from 'vitest';
import { psUnquote, psQuote } from '../../src/admin/powershell.ts';
import { allowedParameters, POWERSHELL_CMDLETS, RETIRED_MODULE_PATTERNS, type PowerShellModule } from '../../src/admin/powershell-cmdlets.ts';
import { generateSetupScript, type SetupOptions } from '../../src/admin/setup-scripts.ts';
import { commandUses, parsePowerShell, syntaxErrors, verbatimStrings } from './powershell-ast.ts';

const NASTY = "O'Brien ‘quoted’ $(Remove-Item C:\\ -Recurse) `whoami` \"; Stop-Computer #";

export const SCENARIOS: Array<{ label: string; setup: SetupOptions }> = [
  {
    label: 'graph-app rbac',
    setup: {
      mode: 'graph-app',
      options: { appName: 'calpush', tenantId: '2f6d1e3a-7c4b-4e8f-9a15-0c3b5d7e9f21', certificatePath: '/etc/calpush/app-cert.pem', scoping: 'rbac', scopeGroups: ['calpush-mailboxes@contoso.edu'], scopeName: 'calpush mailboxes', assignmentName: 'calpush Calendars.ReadWrite', testMailbox: 's0001@contoso.edu' },
    },
  },
  { label: 'graph-app rbac, nasty values', setup: { mode: 'graph-app', options: { appName: NASTY, clientId: NASTY, certificatePath: NASTY, scoping: 'rbac', scopeGroups: [NASTY, 'rooms-2@contoso.edu'], scopeName: NASTY, assignmentName: NASTY, testMailbox: NASTY } } },
  { label: 'graph-app access-policy', setup: { mode: 'graph-app', options: { appName: 'calpush', scoping: 'access-policy', scopeGroups: ['calpush-mailboxes@contoso.edu'], scopeName: 'x', assignmentName: 'x', testMailbox: 't0001@contoso.edu' } } },
  { label: 'graph-app none', setup: { mode: 'graph-app', options: { appName: 'calpush', scoping: 'none', scopeName: 'x', assignmentName: 'x' } } },
  { label: 'graph-delegated', setup: { mode: 'graph-delegated', options: { appName: 'calpush', redirectUri: 'https://calpush.contoso.edu/connect/callback', adminConsent: false } } },
  { label: 'graph-delegated admin consent', setup: { mode: 'graph-delegated', options: { appName: NASTY, tenantId: 'contoso.onmicrosoft.com', redirectUri: NASTY, certificatePath: NASTY, adminConsent: true } } },
  {
    label: 'ews-delegate',
    setup: {
      mode: 'ews-delegate',
      options: { serviceAccounts: ['svc-calpush1', 'svc-calpush2'], upnSuffix: 'contoso.edu', organizationalUnit: 'OU=Service Accounts,DC=contoso,DC=edu', groupName: 'calpush service accounts', mailboxesCsv: 'C:\\calpush\\mailboxes.csv', csvColumn: 'PrimarySmtpAddress', accessRight: 'Editor', generatePassword: false },
    },
  },
  {
    label: 'ews-delegate generated passwords, nasty values',
    setup: { mode: 'ews-delegate', options: { serviceAccounts: [NASTY], upnSuffix: NASTY, organizationalUnit: NASTY, groupName: NASTY, mailboxesCsv: NASTY, csvColumn: NASTY, accessRight: 'Author', generatePassword: true } },
  },
  { label: 'ews-impersonation', setup: { mode: 'ews-impersonation', options: { serviceAccount: 'svc-calpush@contoso.edu', scopeGroups: ['rooms@contoso.edu'], scopeName: 'calpush impersonation scope', assignmentName: 'calpush ApplicationImpersonation', testMailbox: 'room-main-101@contoso.edu' } } },
  {
    label: 'ews-impersonation, room lists in buckets of 75',
    setup: { mode: 'ews-impersonation', options: { serviceAccount: 'svc-rooms@contoso.edu', scopeGroups: ['rooms-1@contoso.edu', 'rooms-2@contoso.edu', 'vmr-scheduling-group@contoso.edu'], scopeName: 'calpush rooms', assignmentName: 'calpush rooms impersonation' } },
  },
  { label: 'rooms online', setup: { mode: 'rooms', options: { exchange: 'online', name: 'Cronofy Room List', alias: 'cronofy.resource.list', primarySmtpAddress: 'cronofy.resource.list@contoso.edu', roomsCsv: 'ResourceCalendars.csv', csvColumn: 'ResourceAccounts', bucketSize: 75 } } },
  { label: 'rooms onprem, managed', setup: { mode: 'rooms', options: { exchange: 'onprem', name: 'calpush rooms', alias: 'calpush-rooms', roomsCsv: 'C:\\calpush\\rooms.csv', csvColumn: 'ResourceAccounts', manager: 'svc-rooms@contoso.edu', bucketSize: 75 } } },
  { label: 'rooms onprem, nasty values', setup: { mode: 'rooms', options: { exchange: 'onprem', name: NASTY, alias: NASTY, roomsCsv: NASTY, csvColumn: NASTY, bucketSize: 10 } } },
  { label: 'equipment online', setup: { mode: 'equipment', options: { exchange: 'online', name: 'Pexip Scheduling Service', alias: 'pexip.scheduling', displayName: 'Pexip Scheduling Service', addToGroup: 'calpush-mailboxes@contoso.edu' } } },
  { label: 'equipment onprem', setup: { mode: 'equipment', options: { exchange: 'onprem', name: NASTY, alias: NASTY, displayName: NASTY, primarySmtpAddress: NASTY, organizationalUnit: NASTY } } },
];

/** Which modules a mode may use. */
const MODULES_FOR_MODE: Record<SetupOptions['mode'], PowerShellModule[]> = {
  'graph-app': ['Microsoft.PowerShell.Core', 'Microsoft.PowerShell.Utility', 'Microsoft.PowerShell.Management', 'Microsoft.Graph.Authentication', 'Microsoft.Graph.Applications', 'ExchangeOnlineManagement', 'Exchange'],
  'graph-delegated': ['Microsoft.PowerShell.Core', 'Microsoft.PowerShell.Utility', 'Microsoft.PowerShell.Management', 'Microsoft.Graph.Authentication', 'Microsoft.Graph.Applications', 'Microsoft.Graph.Identity.SignIns'],
  'ews-delegate': ['Microsoft.PowerShell.Core', 'Microsoft.PowerShell.Utility', 'Microsoft.PowerShell.Management', 'Microsoft.PowerShell.Security', 'ActiveDirectory', 'Exchange'],
  'ews-impersonation': ['Microsoft.PowerShell.Core', 'Microsoft.PowerShell.Utility', 'Exchange'],
  rooms: ['Microsoft.PowerShell.Core', 'Microsoft.PowerShell.Utility', 'Microsoft.PowerShell.Management', 'ExchangeOnlineManagement', 'Exchange'],
  equipment: ['Microsoft.PowerShell.Core', 'Microsoft.PowerShell.Utility', 'Microsoft.PowerShell.Management', 'ExchangeOnlineManagement', 'Exchange'],
};

/** For each creating command, the lookup that must come before it. */
const LOOKUP_BEFORE: Record<string, string[]> = {
  'New-MgApplication': ['Get-MgApplication'],
  'New-MgServicePrincipal': ['Get-MgServicePrincipal'],
  'New-MgServicePrincipalAppRoleAssignment': ['Get-MgServicePrincipalAppRoleAssignment'],
  'New-MgOauth2PermissionGrant': ['Get-MgOauth2PermissionGrant'],
  'New-ServicePrincipal': ['Get-ServicePrincipal'],
  'New-ManagementScope': ['Get-ManagementScope'],
  'New-ManagementRoleAssignment': ['Get-ManagementRoleAssignment'],
  'New-ApplicationAccessPolicy': ['Get-ApplicationAccessPolicy'],
  'New-ADUser': ['Get-ADUser'],
  'New-ADGroup': ['Get-ADGroup'],
  'Add-ADGroupMember': ['Get-ADGroupMember'],
  'Enable-DistributionGroup': ['Get-DistributionGroup'],
  'New-DistributionGroup': ['Get-DistributionGroup'],
  'Add-DistributionGroupMember': ['Get-DistributionGroupMember'],
  'New-Mailbox': ['Get-Mailbox'],
  'Add-MailboxFolderPermission': ['Get-MailboxFolderPermission'],
  'Set-MailboxFolderPermission': ['Get-MailboxFolderPermission'],
  'Enable-OrganizationCustomization': ['Get-OrganizationConfig'],
  'Enable-ADAccount': ['Get-ADUser'],
};
/** Commands that create nothing outside the script. */
const NOT_CREATING = new Set(['New-Object']);

async function analyse(script: string) {
  const tree = await parsePowerShell(script);
  return { tree, errors: syntaxErrors(tree), uses: commandUses(tree), strings: verbatimStrings(tree) };
}

describe('the cmdlet table', () => {
  it('cites a Microsoft Learn page for every cmdlet and lists only current modules', () => {
    for (const [name, info] of Object.entries(POWERSHELL_CMDLETS)) {
      expect(info.learnUrl, name).toMatch(/^https:\/\/learn\.microsoft\.com\/powershell\/module\/[a-z.]+\/[a-z0-9-]+$/);
      expect(info.learnUrl.endsWith(`/${name.toLowerCase()}`), name).toBe(true);
      expect(RETIRED_MODULE_PATTERNS.some((p) => p.test(name)), name).toBe(false);
      expect(name).toMatch(/^[A-Z][A-Za-z]+-[A-Z][A-Za-z0-9]+$/);
      if (info.module === 'Exchange' || info.module === 'ExchangeOnlineManagement') expect(info.availability, name).toBeDefined();
    }
  });
});

describe.each(SCENARIOS)('setup $label', ({ setup }) => {
  const script = generateSetupScript(setup, '0.1.0');

  it('parses without errors with a real PowerShell parser', async () => {
    const { tree, errors } = await analyse(script);
    expect(errors).toEqual([]);
    expect(tree.rootNode.hasError).toBe(false);
  });

  it('uses only cmdlets and parameters from the table, of current modules that fit the mode', async () => {
    const { uses } = await analyse(script);
    expect(uses.length).toBeGreaterThan(10);
    const allowedModules = MODULES_FOR_MODE[setup.mode];
    const onprem = (setup.mode === 'rooms' || setup.mode === 'equipment') && setup.options.exchange === 'onprem';
    for (const use of uses) {
      expect(use.name, `dynamic invocation at line ${use.line}: ${use.text}`).not.toBeNull();
      const info = POWERSHELL_CMDLETS[use.name!];
      expect(info, `line ${use.line}: ${use.name} is not in src/admin/powershell-cmdlets.ts`).toBeDefined();
      expect(allowedModules, `${use.name} (${info!.module}) in ${setup.mode}`).toContain(info!.module);
      if (setup.mode === 'ews-delegate' || setup.mode === 'ews-impersonation' || onprem) {
        expect(info!.availability, `${use.name} is Exchange Online only, but ${setup.mode} runs on-premises`).not.toBe('online');
      }
      if (setup.mode === 'graph-app' || ((setup.mode === 'rooms' || setup.mode === 'equipment') && !onprem)) {
        expect(info!.availability, `${use.name} is on-premises only`).not.toBe('onprem');
      }
      const allowed = allowedParameters(use.name!)!;
      for (const parameter of use.parameters) expect(allowed.has(parameter), `line ${use.line}: ${use.name} -${parameter}`).toBe(true);
    }
    for (const pattern of RETIRED_MODULE_PATTERNS) expect(script).not.toMatch(new RegExp(pattern.source.replace('^', '\\b'), 'i'));
    expect(script).not.toMatch(/\bMSOnline\b|Import-Module\s+AzureAD/i);
  });

  it('looks before it creates', async () => {
    const { uses } = await analyse(script);
    let creating = 0;
    for (const [index, use] of uses.entries()) {
      const verb = use.name!.split('-')[0]!;
      if (!['New', 'Add', 'Enable'].includes(verb) && !(use.name! in LOOKUP_BEFORE)) continue;
      if (NOT_CREATING.has(use.name!)) continue;
      creating++;
      const lookups = LOOKUP_BEFORE[use.name!];
      expect(lookups, `${use.name} has no lookup rule`).toBeDefined();
      const before = uses.slice(0, index).map((u) => u.name);
      expect(lookups!.some((l) => before.includes(l)), `${use.name} at line ${use.line} without ${lookups!.join('/')} before it`).toBe(true);
    }
    expect(creating).toBeGreaterThan(0);
  });

  it('starts with a header saying what it does and which rights it needs', () => {
    expect(script.startsWith('<#\n.SYNOPSIS\n')).toBe(true);
    const header = script.slice(0, script.indexOf('#>'));
    expect(header).toContain('.DESCRIPTION');
    expect(header).toMatch(/What it does.*\n\s+1\. /);
    expect(header).toContain('Rights it needs:');
    expect(header).toContain('Modules:');
    expect(header).toContain('contains no secret');
    expect(script).toContain('[CmdletBinding(SupportsShouldProcess = $true)]');
    expect(script).toContain("$ErrorActionPreference = 'Stop'");
  });

  it('holds values only as single-quoted parameter defaults that read back exactly', async () => {
    const { strings } = await analyse(script);
    // Every single-quoted literal is well-formed for PowerShell too (typographic quotes doubled).
    for (const literal of strings) expect(() => psUnquote(literal), literal).not.toThrow();
    const notParameters = new Set(['scoping', 'exchange']);
    // The scope and assignment names belong to RBAC for Applications only.
    if (setup.mode === 'graph-app' && setup.options.scoping !== 'rbac') notParameters.add('scopeName').add('assignmentName');
    const values = Object.entries(setup.options)
      .filter(([key]) => !notParameters.has(key))
      .flatMap(([, v]) => (typeof v === 'string' ? [v] : Array.isArray(v) ? v : []));
    for (const value of values) expect(script, value).toContain(psQuote(value));
    // Values appear nowhere else than in the param block.
    const body = script.slice(script.indexOf("$ErrorActionPreference = 'Stop'"));
    if (values.includes(NASTY)) expect(body).not.toContain('O\'Brien');
  });

  it('contains no secret', () => {
    expect(script).not.toMatch(/-(Account)?Password\s+'/);
    expect(script).not.toMatch(/ConvertTo-SecureString\s+-String\s+'/);
    expect(script).not.toMatch(/-----BEGIN|client_secret|-ClientSecret|clientSecret/);
  });
});

describe('what each mode does, as its seed guide describes', () => {
  const text = (label: string) => generateSetupScript(SCENARIOS.find((s) => s.label === label)!.setup, '0.1.0');

  it('graph-app rbac: service principal, scope on the group, scoped role assignment, test, then the Entra grant removed', () => {
    const s = text('graph-app rbac');
    const order = ['New-ServicePrincipal -AppId', 'New-ManagementScope -Name $ScopeName -RecipientRestrictionFilter', "-Role 'Application Calendars.ReadWrite' -CustomResourceScope $ScopeName", 'Test-ServicePrincipalAuthorization -Identity', 'Remove-MgServicePrincipalAppRoleAssignment'];
    const positions = order.map((o) => s.indexOf(o));
    expect(positions.every((p) => p > 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(s).toContain('MemberOfGroup -eq');
    expect(s).toContain('Enable-OrganizationCustomization');
    expect(s).toContain('Update-MgApplication -ApplicationId $app.Id -KeyCredentials');
    expect(s).not.toContain('New-MgServicePrincipalAppRoleAssignment'); // no tenant-wide grant under RBAC
  });

  it('graph-app access-policy: consent, then New-ApplicationAccessPolicy RestrictAccess and Test-ApplicationAccessPolicy', () => {
    const s = text('graph-app access-policy');
    expect(s).toContain('New-MgServicePrincipalAppRoleAssignment');
    expect(s).toContain("New-ApplicationAccessPolicy -AppId $app.AppId -PolicyScopeGroupId $ScopeGroup -AccessRight 'RestrictAccess'");
    expect(s).toContain('Test-ApplicationAccessPolicy -Identity $TestMailbox -AppId $app.AppId');
  });

  it('graph-delegated: redirect URI, Calendars.ReadWrite + offline_access, and an AllPrincipals grant only when asked', () => {
    expect(text('graph-delegated')).toContain("$DelegatedPermissions = @('Calendars.ReadWrite', 'offline_access', 'openid', 'profile', 'email', 'User.Read')");
    expect(text('graph-delegated')).toContain('RedirectUris');
    expect(text('graph-delegated')).not.toContain('New-MgOauth2PermissionGrant');
    expect(text('graph-delegated admin consent')).toContain("New-MgOauth2PermissionGrant -ClientId $sp.Id -ConsentType 'AllPrincipals'");
  });

  it('ews-delegate: accounts with a typed or generated password, a universal group, Add- or Set-MailboxFolderPermission', () => {
    const typed = text('ews-delegate');
    expect(typed).toContain("$ServiceAccounts = @('svc-calpush1', 'svc-calpush2')");
    expect(typed).toContain('Read-Host -AsSecureString');
    expect(typed).toContain('-PasswordNeverExpires $true -CannotChangePassword $true -ChangePasswordAtLogon $false');
    expect(typed).toContain("-GroupScope 'Universal'");
    expect(typed).toContain('Add-MailboxFolderPermission -Identity $folder -User $delegate -AccessRights $AccessRight');
    expect(typed).toContain('Set-MailboxFolderPermission -Identity $folder -User $delegate -AccessRights $AccessRight');
    expect(typed).toContain("-FolderScope 'Calendar'");
    expect(typed).toContain('[switch] $GeneratePassword\n');
    expect(text('ews-delegate generated passwords, nasty values')).toContain('[switch] $GeneratePassword = $true');
  });

  it('ews-impersonation: a scope on the group and ApplicationImpersonation with CustomRecipientWriteScope', () => {
    const s = text('ews-impersonation');
    expect(s).toContain("New-ManagementRoleAssignment -Name $AssignmentName -Role 'ApplicationImpersonation' -User $ServiceAccount -CustomRecipientWriteScope $ScopeName");
    expect(s).toContain('-WritableRecipient $TestMailbox');
    expect(s).not.toContain('Connect-ExchangeOnline');
  });

  it('rooms: New-DistributionGroup -RoomList, buckets of at most 75; on-premises the manager set with the security-group bypass', () => {
    const s = text('rooms online');
    expect(s).toContain('[int] $BucketSize = 75');
    expect(s).toContain('New-DistributionGroup -RoomList -Name $listName');
    expect(s).toContain('$_.Members.Count -lt $BucketSize');
    expect(s).toContain('Connect-ExchangeOnline');
    expect(s).toContain("Write-Host ('  --scope-group {0}' -f ($addresses -join ' --scope-group '))");
    const onprem = text('rooms onprem, managed');
    expect(onprem).toContain('Set-DistributionGroup -Identity $bucket.Identity -ManagedBy $Manager -BypassSecurityGroupManagerCheck');
    expect(onprem).toContain("[string] $Manager = 'svc-rooms@contoso.edu'");
    expect(text('rooms onprem, nasty values')).not.toContain('Connect-ExchangeOnline');
  });

  it('rooms --exchange online needs no service account: Graph app-only has none (no Manager, no -ManagedBy), and says Place.Read.All', () => {
    const s = text('rooms online');
    expect(s).not.toContain('$Manager');
    expect(s).not.toContain('-ManagedBy');
    expect(s).not.toMatch(/service account/i);
    expect(s).toContain('Place.Read.All');
  });

  it('several groups or room lists: one management scope on all of them (MemberOfGroup -or …), each looked up, kept in step', () => {
    for (const label of ['ews-impersonation, room lists in buckets of 75', 'graph-app rbac, nasty values']) {
      const s = text(label);
      expect(s).toContain('$groups = @(foreach ($name in $ScopeGroup) {');
      expect(s).toContain("-join ' -or '");
      expect(s).toContain('New-ManagementScope -Name $ScopeName -RecipientRestrictionFilter $scopeFilter');
      expect(s).toContain('Set-ManagementScope -Identity $ScopeName -RecipientRestrictionFilter $scopeFilter');
      expect(s).toMatch(/\[string\[\]\] \$ScopeGroup = @\(/);
    }
    expect(text('ews-impersonation, room lists in buckets of 75')).toContain("[string[]] $ScopeGroup = @('rooms-1@contoso.edu', 'rooms-2@contoso.edu', 'vmr-scheduling-group@contoso.edu')");
    // An access policy names one group.
    expect(text('graph-app access-policy')).toContain("[string] $ScopeGroup = 'calpush-mailboxes@contoso.edu'");
  });

  it('equipment: New-Mailbox -Equipment and Set-CalendarProcessing exactly as seed 004', () => {
    const s = text('equipment online');
    expect(s).toContain('New-Mailbox -Equipment -Name $Name -Alias $Alias -DisplayName $DisplayName');
    expect(s).toContain(
      "Set-CalendarProcessing -Identity $identity -AutomateProcessing 'None' -AllowConflicts $true -BookingWindowInDays 1080 -MaximumDurationInMinutes 0 -AllowRecurringMeetings $true -EnforceSchedulingHorizon $false -ScheduleOnlyDuringWorkHours $false -ConflictPercentageAllowed 100 -MaximumConflictInstances 2147483647",
    );
    expect(s).toContain('Get-CalendarProcessing -Identity $identity');
    expect(text('equipment onprem')).toContain('-OrganizationalUnit $OrganizationalUnit');
  });
});
