// The PowerShell scripts `calpush setup <mode>` writes: one per way calpush can be given access, each replacing
// one of the admin guides calpush replaces (MyTimetable's service accounts and Office 365 app, Serraview/Cronofy's
// room list and impersonation scope, Pexip's equipment mailbox).
//
// Rules every script follows (and test/admin checks):
// - values from flags or the config appear only as defaults in the param() block, as single-quoted literals
//   (psQuote), so that no input can break out of its string; the body refers to them as $Variables;
// - it looks before it creates (Get-… before New-…/Add-…), so a second run changes nothing;
// - it starts with a header saying what it does and which rights it needs;
// - it contains no secret: passwords are typed in (Read-Host -AsSecureString) or generated and shown once;
// - only current modules: Microsoft Graph PowerShell, ExchangeOnlineManagement, ActiveDirectory, the Exchange
//   Management Shell — never MSOnline/AzureAD; only cmdlets and parameters listed in powershell-cmdlets.ts.
import { renderHeader, type ScriptHeader, type ScriptParameter } from './powershell.ts';

export const SETUP_MODES = ['graph-app', 'graph-delegated', 'ews-delegate', 'ews-impersonation', 'rooms', 'equipment'] as const;
export type SetupMode = (typeof SETUP_MODES)[number];

/** Microsoft Graph's application id (the same in every tenant). */
export const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';

export interface GraphAppOptions {
  appName: string;
  tenantId?: string;
  /** An existing registration to complete instead of looking it up by name. */
  clientId?: string;
  /** Certificate to upload (PEM/CER, public part only). */
  certificatePath?: string;
  scoping: 'rbac' | 'access-policy' | 'none';
  /**
   * Groups (or room lists) whose members calpush may write. RBAC for Applications takes several — MemberOfGroup does
   * not look into nested groups, and room lists come in buckets of 75 — an ApplicationAccessPolicy one.
   */
  scopeGroups?: string[];
  scopeName: string;
  assignmentName: string;
  testMailbox?: string;
}

export interface GraphDelegatedOptions {
  appName: string;
  tenantId?: string;
  clientId?: string;
  /** calpush's consent page (the Web redirect URI). */
  redirectUri: string;
  certificatePath?: string;
  /** Grant the delegated permissions for every user (AllPrincipals) instead of letting each user consent. */
  adminConsent: boolean;
}

export interface EwsDelegateOptions {
  /** sAMAccountNames of the service accounts (several multiply the EWS throttling budget). */
  serviceAccounts: string[];
  /** UPN suffix, e.g. contoso.edu */
  upnSuffix: string;
  /** OU for the accounts and the group, e.g. OU=Service Accounts,DC=contoso,DC=edu */
  organizationalUnit: string;
  groupName: string;
  mailboxesCsv: string;
  csvColumn: string;
  accessRight: 'Editor' | 'Author' | 'PublishingEditor' | 'Owner';
  generatePassword: boolean;
}

export interface EwsImpersonationOptions {
  /** The service account (UPN or domain\sam) that impersonates. */
  serviceAccount: string;
  /** The groups or room lists whose members it may impersonate (MemberOfGroup does not look into nested groups). */
  scopeGroups: string[];
  scopeName: string;
  assignmentName: string;
  testMailbox?: string;
}

export interface RoomsOptions {
  exchange: 'online' | 'onprem';
  name: string;
  alias: string;
  primarySmtpAddress?: string;
  roomsCsv: string;
  csvColumn: string;
  /**
   * The service account that manages the room lists: on-premises only (EWS). Exchange Online has none for calpush —
   * Graph app-only reads the lists with Place.Read.All and needs no manager.
   */
  manager?: string;
  bucketSize: number;
}

export interface EquipmentOptions {
  exchange: 'online' | 'onprem';
  name: string;
  alias: string;
  displayName: string;
  primarySmtpAddress?: string;
  organizationalUnit?: string;
  /** Add the mailbox to this group (the scope group of graph-app or ews-impersonation). */
  addToGroup?: string;
}

export type SetupOptions =
  | { mode: 'graph-app'; options: GraphAppOptions }
  | { mode: 'graph-delegated'; options: GraphDelegatedOptions }
  | { mode: 'ews-delegate'; options: EwsDelegateOptions }
  | { mode: 'ews-impersonation'; options: EwsImpersonationOptions }
  | { mode: 'rooms'; options: RoomsOptions }
  | { mode: 'equipment'; options: EquipmentOptions };

export function generateSetupScript(setup: SetupOptions, version: string): string {
  switch (setup.mode) {
    case 'graph-app':
      return graphAppScript(setup.options, version);
    case 'graph-delegated':
      return graphDelegatedScript(setup.options, version);
    case 'ews-delegate':
      return ewsDelegateScript(setup.options, version);
    case 'ews-impersonation':
      return ewsImpersonationScript(setup.options, version);
    case 'rooms':
      return roomsScript(setup.options, version);
    case 'equipment':
      return equipmentScript(setup.options, version);
  }
}

function script(header: ScriptHeader, parameters: ScriptParameter[], body: string[], version: string): string {
  return `${renderHeader(header, parameters, version)}\n${body.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}

const GRAPH_MODULES = 'Microsoft.Graph.Authentication, Microsoft.Graph.Applications (Microsoft Graph PowerShell SDK v2: Install-Module Microsoft.Graph.Applications -Scope CurrentUser)';
const EXO_MODULE = 'ExchangeOnlineManagement 3.x (Install-Module ExchangeOnlineManagement -Scope CurrentUser)';
const EMS = 'the Exchange Management Shell on an Exchange server or a machine with the Exchange management tools';

/** Lines that stop a -WhatIf run where a later step would need the object that was not created. */
function stopOnWhatIf(variable: string, what: string): string[] {
  return [`if (-not ${variable}) {`, `    if ($WhatIfPreference) { Write-Host ('WhatIf: {0} would be created; the remaining steps need it, so the dry run stops here.' -f ${what}); return }`, `    throw ('{0} was not created.' -f ${what})`, '}'];
}

// ---------------------------------------------------------------------------------------------------------------
// Shared blocks: app registration lookup and certificate upload (graph-app and graph-delegated)
// ---------------------------------------------------------------------------------------------------------------

function connectGraphBlock(scopes: string[]): string[] {
  const list = scopes.map((s) => `'${s}'`).join(', ');
  return [
    `$graphScopes = @(${list})`,
    'if ($TenantId) { Connect-MgGraph -TenantId $TenantId -Scopes $graphScopes -NoWelcome } else { Connect-MgGraph -Scopes $graphScopes -NoWelcome }',
    '$TenantId = (Get-MgContext).TenantId',
    "$graphSp = Get-MgServicePrincipal -Filter (\"appId eq '{0}'\" -f $GraphAppId)",
    "if (-not $graphSp) { throw 'The Microsoft Graph service principal was not found in this tenant.' }",
    '',
  ];
}

function findOrCreateAppBlock(notes: string, createLine: string): string[] {
  return [
    'if ($ClientId) {',
    "    $app = Get-MgApplication -Filter (\"appId eq '{0}'\" -f ($ClientId -replace \"'\", \"''\"))",
    "    if (-not $app) { throw ('No app registration with client id {0} in this tenant; leave -ClientId empty to register a new app.' -f $ClientId) }",
    '} else {',
    "    $found = @(Get-MgApplication -Filter (\"displayName eq '{0}'\" -f ($AppName -replace \"'\", \"''\")) -All)",
    "    if ($found.Count -gt 1) { throw ('{0} app registrations are named {1}: pass -ClientId to pick one.' -f $found.Count, $AppName) }",
    '    $app = $found | Select-Object -First 1',
    '}',
    'if ($app) {',
    "    Write-Host ('App registration found: {0} (client id {1})' -f $app.DisplayName, $app.AppId)",
    '} else {',
    `    ${createLine.replace('%NOTES%', notes)}`,
    ...stopOnWhatIf('$app', '$AppName').map((l) => `    ${l}`),
    "    Write-Host ('App registration created: {0} (client id {1})' -f $app.DisplayName, $app.AppId)",
    '}',
    '',
  ];
}

const UPLOAD_CERTIFICATE: string[] = [
  'if ($CertificatePath) {',
  '    # The public certificate only (PEM, CER or CRT); its private key stays on the calpush host.',
  '    $certificateFile = (Resolve-Path -LiteralPath $CertificatePath).Path',
  '    $certificate = New-Object -TypeName System.Security.Cryptography.X509Certificates.X509Certificate2 -ArgumentList $certificateFile',
  "    $registered = @($app.KeyCredentials | Where-Object { $_.CustomKeyIdentifier -and (([System.BitConverter]::ToString($_.CustomKeyIdentifier) -replace '-', '') -eq $certificate.Thumbprint) })",
  '    if ($registered.Count -gt 0) {',
  "        Write-Host ('Certificate already registered (SHA-1 thumbprint {0})' -f $certificate.Thumbprint)",
  '    } else {',
  '        # PATCH replaces the whole keyCredentials collection: keep the existing keys and add ours.',
  "        $newKey = @{ Type = 'AsymmetricX509Cert'; Usage = 'Verify'; Key = $certificate.RawData; DisplayName = $certificate.Subject; StartDateTime = $certificate.NotBefore.ToUniversalTime(); EndDateTime = $certificate.NotAfter.ToUniversalTime() }",
  '        Update-MgApplication -ApplicationId $app.Id -KeyCredentials (@($app.KeyCredentials) + @($newKey))',
  "        Write-Host ('Certificate uploaded (SHA-1 thumbprint {0}, valid until {1:yyyy-MM-dd})' -f $certificate.Thumbprint, $certificate.NotAfter)",
  '    }',
  '} else {',
  "    Write-Warning 'No -CertificatePath: upload a certificate later (calpush cert create prints how) or the app cannot sign in.'",
  '}',
  '',
];

const FIND_OR_CREATE_SP: string[] = [
  "$sp = Get-MgServicePrincipal -Filter (\"appId eq '{0}'\" -f $app.AppId)",
  'if ($sp) {',
  "    Write-Host ('Service principal (enterprise app) found: object id {0}' -f $sp.Id)",
  '} else {',
  '    $sp = New-MgServicePrincipal -AppId $app.AppId',
  ...stopOnWhatIf('$sp', "'The service principal'").map((l) => `    ${l}`),
  "    Write-Host ('Service principal (enterprise app) created: object id {0}' -f $sp.Id)",
  '}',
  '',
];

/** Adds one permission (role or scope) to the app's declared API permissions, keeping the others. */
function declarePermissionsBlock(kind: 'Role' | 'Scope', idsVariable: string): string[] {
  return [
    `foreach ($permissionId in ${idsVariable}) {`,
    '    $graphAccess = @($app.RequiredResourceAccess | Where-Object { $_.ResourceAppId -eq $GraphAppId } | ForEach-Object { $_.ResourceAccess })',
    `    if (@($graphAccess | Where-Object { $_.Id -eq $permissionId -and $_.Type -eq '${kind}' }).Count -eq 0) {`,
    '        $others = @($app.RequiredResourceAccess | Where-Object { $_.ResourceAppId -ne $GraphAppId })',
    `        $access = @($graphAccess | ForEach-Object { @{ Id = $_.Id; Type = $_.Type } }) + @(@{ Id = $permissionId; Type = '${kind}' })`,
    '        Update-MgApplication -ApplicationId $app.Id -RequiredResourceAccess (@($others) + @(@{ ResourceAppId = $GraphAppId; ResourceAccess = $access }))',
    '        $app = Get-MgApplication -ApplicationId $app.Id',
    "        Write-Host ('API permission declared: Microsoft Graph {0}' -f $permissionId)",
    '    }',
    '}',
    '',
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// graph-app: app-only Microsoft Graph access, scoped with RBAC for Applications or an ApplicationAccessPolicy
// ---------------------------------------------------------------------------------------------------------------

/**
 * `$groups` (each of `$ScopeGroup` found, or a stop naming the one that is not) and `$scopeFilter`: its members, one
 * MemberOfGroup clause per group joined with -or — MemberOfGroup does not look into nested groups
 * (https://learn.microsoft.com/exchange/filterable-properties-for-the-recipientfilter-parameter), so room lists in
 * buckets of 75 are named one by one. A quote inside an OPATH value is written twice.
 */
function scopeGroupsBlock(notFound: string): string[] {
  return [
    '$groups = @(foreach ($name in $ScopeGroup) {',
    '    $found = Get-Recipient -Identity $name -ErrorAction SilentlyContinue',
    `    if (-not $found) { throw ('${notFound}' -f $name) }`,
    '    $found',
    '})',
    "if ($groups.Count -eq 0) { throw 'Name at least one group in -ScopeGroup.' }",
    "$scopeFilter = @($groups | ForEach-Object { \"MemberOfGroup -eq '{0}'\" -f ([string]$_.DistinguishedName -replace \"'\", \"''\") }) -join ' -or '",
    "$groupNames = @($groups | ForEach-Object { [string]$_.DisplayName }) -join ', '",
  ];
}

/** The management scope -ScopeName on `$scopeFilter`: created, pointed at the groups when it names others, or kept. */
const SCOPE_ON_GROUPS = [
  '$scope = Get-ManagementScope -Identity $ScopeName -ErrorAction SilentlyContinue',
  '$missing = @($groups | Where-Object { -not ([string]$scope.RecipientFilter).Contains([string]$_.DistinguishedName) })',
  'if (-not $scope) {',
  '    New-ManagementScope -Name $ScopeName -RecipientRestrictionFilter $scopeFilter | Out-Null',
  "    Write-Host ('Management scope {0}: created (members of {1})' -f $ScopeName, $groupNames)",
  "} elseif ($missing.Count -gt 0 -or ([regex]::Matches([string]$scope.RecipientFilter, 'MemberOfGroup')).Count -ne $groups.Count) {",
  '    Set-ManagementScope -Identity $ScopeName -RecipientRestrictionFilter $scopeFilter',
  "    Write-Host ('Management scope {0}: now the members of {1}' -f $ScopeName, $groupNames)",
  '} else {',
  "    Write-Host ('Management scope {0}: already the members of {1}' -f $ScopeName, $groupNames)",
  '}',
];

function graphAppScript(o: GraphAppOptions, version: string): string {
  const rbac = o.scoping === 'rbac';
  const policy = o.scoping === 'access-policy';
  const steps = [
    'Connects to Microsoft Graph and finds the app registration (by -ClientId, or by -AppName), or registers it as a single-tenant app.',
    'Uploads the certificate -CertificatePath as the app’s credential unless it is already registered (the existing keys are kept).',
    'Finds or creates the app’s service principal (the enterprise application).',
  ];
  if (rbac) {
    steps.push(
      'Connects to Exchange Online; enables organisation customisation if the tenant is still dehydrated (needed to create scopes).',
      'Creates the Exchange service principal that points at the enterprise app (New-ServicePrincipal).',
      'Creates the management scope -ScopeName holding the members of the groups or room lists -ScopeGroup (New-ManagementScope -RecipientRestrictionFilter "MemberOfGroup -eq ... -or MemberOfGroup -eq ..."), or points it at them when it names others.',
      'Assigns the role "Application Calendars.ReadWrite" to the app, limited to that scope (New-ManagementRoleAssignment -App -CustomResourceScope).',
      'Checks a mailbox with Test-ServicePrincipalAuthorization (InScope True/False), if -TestMailbox is given.',
      'Removes the tenant-wide Microsoft Entra grant of Calendars.ReadWrite, if the app has one: RBAC for Applications grants add to Entra grants, so the scope has no effect while that grant exists. This comes last, so an app already in use keeps working while it moves to the scoped role.',
    );
  } else {
    steps.push(
      'Declares the Microsoft Graph application permission Calendars.ReadWrite on the app and grants admin consent (an app role assignment on the service principal).',
    );
    if (policy) {
      steps.push(
        'Connects to Exchange Online and restricts the app to the members of the mail-enabled security group -ScopeGroup with an ApplicationAccessPolicy (legacy: Microsoft recommends RBAC for Applications for new setups).',
        'Checks a mailbox with Test-ApplicationAccessPolicy, if -TestMailbox is given.',
      );
    }
  }
  steps.push('Prints the tenant id and client id for calpush.config.json.');
  const rights = [
    'Microsoft Entra: Application Administrator (or Cloud Application Administrator) to register the app and upload the certificate' +
      (rbac ? '' : '; Privileged Role Administrator (or Global Administrator) to grant admin consent for an application permission') +
      (rbac ? '; Privileged Role Administrator to remove an existing tenant-wide grant' : ''),
  ];
  if (rbac || policy) rights.push('Exchange Online: Exchange Administrator (the Organization Management role group)');
  const modules = [GRAPH_MODULES];
  if (rbac || policy) modules.push(EXO_MODULE);
  const notes: string[] = [];
  if (o.scoping === 'none') notes.push('WARNING: no scoping was chosen: with admin consent for Calendars.ReadWrite the app may write every calendar in the tenant. Use --scoping rbac to limit it to a group.');
  if (rbac || policy) {
    notes.push(
      'If Connect-ExchangeOnline fails with an assembly conflict after Connect-MgGraph (the two modules ship different versions of MSAL), update both modules and run the script in a new PowerShell 7 session.',
      'Changes to RBAC for Applications and to application access policies are cached by Exchange Online: they can take from 30 minutes to a couple of hours to reach Microsoft Graph. Check afterwards with: npx calpush doctor <mailbox> -c calpush.config.json',
    );
  }
  const header: ScriptHeader = {
    title: `calpush setup graph-app --scoping ${o.scoping}`,
    synopsis:
      'Registers calpush in Microsoft Entra ID for app-only access to calendars through Microsoft Graph (application permission Calendars.ReadWrite, certificate credential)' +
      (rbac ? ', limited with RBAC for Applications in Exchange Online to the mailboxes of one or more groups or room lists.' : policy ? ', limited with an ApplicationAccessPolicy to the mailboxes of one group.' : ', without a mailbox scope.'),
    steps,
    rights,
    modules,
    notes,
    requires: ['Microsoft.Graph.Authentication', 'Microsoft.Graph.Applications', ...(rbac || policy ? ['ExchangeOnlineManagement'] : [])],
  };
  const parameters: ScriptParameter[] = [
    { name: 'AppName', type: 'string', value: o.appName, help: 'Display name of the app registration' },
    { name: 'TenantId', type: 'string', value: o.tenantId, help: 'Directory (tenant) id or verified domain; empty: the tenant you sign in to' },
    { name: 'ClientId', type: 'string', value: o.clientId, help: 'Application (client) id of an existing registration; empty: find it by -AppName or register it' },
    { name: 'CertificatePath', type: 'string', value: o.certificatePath, help: 'The certificate to upload (.pem/.cer/.crt, public part only; calpush cert create makes one)' },
  ];
  if (rbac || policy) {
    parameters.push(
      rbac
        ? { name: 'ScopeGroup', type: 'string[]', value: o.scopeGroups, help: 'Groups or room lists whose members calpush may write (addresses or names)' }
        : { name: 'ScopeGroup', type: 'string', value: o.scopeGroups?.[0], help: 'Mail-enabled security group whose members calpush may write (address or name; nested groups count)' },
    );
  }
  if (rbac) {
    parameters.push(
      { name: 'ScopeName', type: 'string', value: o.scopeName, help: 'Name of the management scope' },
      { name: 'AssignmentName', type: 'string', value: o.assignmentName, help: 'Name of the management role assignment (at most 64 characters)' },
    );
  }
  if (rbac || policy) parameters.push({ name: 'TestMailbox', type: 'string', value: o.testMailbox, help: 'A mailbox that should be in scope, to test at the end; empty: no test' });

  const body: string[] = [
    `$GraphAppId = '${GRAPH_APP_ID}'   # Microsoft Graph`,
    '',
    '# ---- 1. Microsoft Graph: app registration, certificate, service principal --------------------------------',
    "Write-Host 'Connecting to Microsoft Graph: sign in as an Application Administrator.'",
    ...connectGraphBlock(['Application.ReadWrite.All', 'AppRoleAssignment.ReadWrite.All']),
    "$calendarsRole = $graphSp.AppRoles | Where-Object { $_.Value -eq 'Calendars.ReadWrite' -and $_.AllowedMemberTypes -contains 'Application' }",
    "if (-not $calendarsRole) { throw 'Microsoft Graph has no application permission Calendars.ReadWrite in this cloud.' }",
    '',
    ...findOrCreateAppBlock(
      'calpush: keeps the events a source system declares in Microsoft 365 calendars (app-only, Microsoft Graph).',
      "$app = New-MgApplication -DisplayName $AppName -SignInAudience 'AzureADMyOrg' -Notes '%NOTES%'",
    ),
    ...UPLOAD_CERTIFICATE,
    ...FIND_OR_CREATE_SP,
    "$entraGrants = @(Get-MgServicePrincipalAppRoleAssignment -ServicePrincipalId $sp.Id -All | Where-Object { $_.ResourceId -eq $graphSp.Id -and $_.AppRoleId -eq $calendarsRole.Id })",
    '',
  ];
  if (!rbac) {
    body.push(
      '# ---- 2. Application permission Calendars.ReadWrite and admin consent ---------------------------------------',
      ...declarePermissionsBlock('Role', '@($calendarsRole.Id)'),
      'if ($entraGrants.Count -gt 0) {',
      "    Write-Host 'Admin consent for Calendars.ReadWrite: already granted'",
      '} else {',
      '    New-MgServicePrincipalAppRoleAssignment -ServicePrincipalId $sp.Id -PrincipalId $sp.Id -ResourceId $graphSp.Id -AppRoleId $calendarsRole.Id | Out-Null',
      "    Write-Host 'Admin consent for Calendars.ReadWrite: granted'",
      '}',
      '',
    );
  }
  if (rbac) {
    body.push(
      '# ---- 2. Exchange Online: RBAC for Applications -------------------------------------------------------------',
      "Write-Host 'Connecting to Exchange Online: sign in as an Exchange Administrator.'",
      'Connect-ExchangeOnline -ShowBanner:$false',
      'if ((Get-OrganizationConfig).IsDehydrated) {',
      '    Enable-OrganizationCustomization',
      "    Write-Host 'Organisation customisation enabled (needed once per tenant to create management scopes).'",
      '}',
      ...scopeGroupsBlock('The group {0} was not found in Exchange Online: create a mail-enabled security group (or a room list) with the mailboxes calpush may write, then run this script again.'),
      '',
      '$exoSp = Get-ServicePrincipal -Identity $app.AppId -ErrorAction SilentlyContinue',
      'if ($exoSp) {',
      "    Write-Host 'Exchange service principal: already there'",
      '} else {',
      '    New-ServicePrincipal -AppId $app.AppId -ObjectId $sp.Id -DisplayName $AppName | Out-Null',
      "    Write-Host 'Exchange service principal: created'",
      '}',
      '',
      ...SCOPE_ON_GROUPS,
      '',
      '$assignment = Get-ManagementRoleAssignment -Identity $AssignmentName -ErrorAction SilentlyContinue',
      'if (-not $assignment) {',
      "    New-ManagementRoleAssignment -Name $AssignmentName -App $sp.Id -Role 'Application Calendars.ReadWrite' -CustomResourceScope $ScopeName | Out-Null",
      "    Write-Host ('Role assignment {0}: Application Calendars.ReadWrite, scope {1}' -f $AssignmentName, $ScopeName)",
      '} else {',
      "    Write-Host ('Role assignment {0}: already there (role {1})' -f $AssignmentName, $assignment.Role)",
      '}',
      '',
      'if ($TestMailbox) {',
      "    Write-Host ('Test-ServicePrincipalAuthorization for {0} (InScope should be True):' -f $TestMailbox)",
      '    Test-ServicePrincipalAuthorization -Identity $app.AppId -Resource $TestMailbox | Format-Table -AutoSize',
      '}',
      '',
      '# ---- 3. Remove the unscoped Entra grant (otherwise the scope has no effect) ---------------------------------',
      'foreach ($grant in $entraGrants) {',
      '    Remove-MgServicePrincipalAppRoleAssignment -ServicePrincipalId $sp.Id -AppRoleAssignmentId $grant.Id',
      "    Write-Host 'Removed the tenant-wide Entra grant of Calendars.ReadWrite: access now comes from the scoped role assignment only.'",
      '}',
      "if (@($app.RequiredResourceAccess | Where-Object { $_.ResourceAppId -eq $GraphAppId } | ForEach-Object { $_.ResourceAccess } | Where-Object { $_.Id -eq $calendarsRole.Id }).Count -gt 0) {",
      "    Write-Warning 'The app still lists Calendars.ReadWrite under API permissions: remove it there, so that nobody grants tenant-wide consent again.'",
      '}',
      '',
    );
  }
  if (policy) {
    body.push(
      '# ---- 3. Exchange Online: ApplicationAccessPolicy (legacy) ---------------------------------------------------',
      "Write-Host 'Connecting to Exchange Online: sign in as an Exchange Administrator.'",
      'Connect-ExchangeOnline -ShowBanner:$false',
      '$policies = @(Get-ApplicationAccessPolicy | Where-Object { $_.AppId -eq $app.AppId })',
      'if ($policies.Count -eq 0) {',
      "    New-ApplicationAccessPolicy -AppId $app.AppId -PolicyScopeGroupId $ScopeGroup -AccessRight 'RestrictAccess' -Description ('calpush: only the mailboxes of {0}' -f $ScopeGroup) | Out-Null",
      "    Write-Host ('ApplicationAccessPolicy: the app is restricted to the members of {0}' -f $ScopeGroup)",
      '} else {',
      "    foreach ($p in $policies) { Write-Host ('ApplicationAccessPolicy: already there ({0} {1})' -f $p.AccessRight, $p.ScopeName) }",
      '}',
      'if ($TestMailbox) {',
      "    Write-Host ('Test-ApplicationAccessPolicy for {0} (AccessCheckResult should be Granted):' -f $TestMailbox)",
      '    Test-ApplicationAccessPolicy -Identity $TestMailbox -AppId $app.AppId | Format-List',
      '}',
      '',
    );
  }
  body.push(
    '# ---- Done ---------------------------------------------------------------------------------------------------',
    "Write-Host ''",
    "Write-Host 'Done. In calpush.config.json, target:'",
    "Write-Host ('  \"kind\": \"graph\", \"tenantId\": \"{0}\", \"clientId\": \"{1}\"' -f $TenantId, $app.AppId)",
    "Write-Host 'Then check a mailbox: npx calpush doctor <mailbox> -c calpush.config.json --write'",
  );
  return script(header, parameters, body, version);
}

// ---------------------------------------------------------------------------------------------------------------
// graph-delegated: each user (or an admin for all) consents on calpush's consent page
// ---------------------------------------------------------------------------------------------------------------

function graphDelegatedScript(o: GraphDelegatedOptions, version: string): string {
  const steps = [
    'Connects to Microsoft Graph and finds the app registration (by -ClientId, or by -AppName), or registers it as a single-tenant web app.',
    'Adds -RedirectUri (calpush’s consent page) to the app’s Web redirect URIs unless it is there.',
    'Declares the delegated Microsoft Graph permissions Calendars.ReadWrite, offline_access (a refresh token, so calpush keeps access without the user), and openid, profile, email and User.Read (who signed in, and which addresses are theirs).',
    'Uploads the certificate -CertificatePath as the app’s credential unless it is already registered.',
    'Finds or creates the app’s service principal (the enterprise application).',
  ];
  if (o.adminConsent) steps.push('Grants the delegated permissions for every user of the tenant (an AllPrincipals OAuth2 permission grant), so nobody sees a consent prompt.');
  else steps.push('Leaves consent to each user: they consent on calpush’s consent page the first time.');
  const header: ScriptHeader = {
    title: 'calpush setup graph-delegated',
    synopsis:
      'Registers calpush in Microsoft Entra ID for delegated access: each person signs in once on calpush’s consent page, and calpush then writes only that person’s own calendar (delegated Calendars.ReadWrite + offline_access).',
    steps,
    rights: [
      'Microsoft Entra: Application Administrator (or Cloud Application Administrator)' + (o.adminConsent ? '; Privileged Role Administrator (or Global Administrator) to consent for all users' : ''),
    ],
    modules: [GRAPH_MODULES + (o.adminConsent ? '; Microsoft.Graph.Identity.SignIns for the consent grant' : '')],
    notes: ['Delegated Calendars.ReadWrite reaches only the signed-in user’s own mailbox. For rooms, or for writing many calendars without each person signing in, use calpush setup graph-app.'],
    requires: ['Microsoft.Graph.Authentication', 'Microsoft.Graph.Applications', ...(o.adminConsent ? ['Microsoft.Graph.Identity.SignIns'] : [])],
  };
  const parameters: ScriptParameter[] = [
    { name: 'AppName', type: 'string', value: o.appName, help: 'Display name of the app registration' },
    { name: 'TenantId', type: 'string', value: o.tenantId, help: 'Directory (tenant) id or verified domain; empty: the tenant you sign in to' },
    { name: 'ClientId', type: 'string', value: o.clientId, help: 'Application (client) id of an existing registration; empty: find it by -AppName or register it' },
    { name: 'RedirectUri', type: 'string', value: o.redirectUri, help: 'calpush serve’s consent answer: <server.publicUrl>/connect/callback (https)' },
    { name: 'CertificatePath', type: 'string', value: o.certificatePath, help: 'The certificate to upload (.pem/.cer/.crt, public part only)' },
  ];
  const body: string[] = [
    `$GraphAppId = '${GRAPH_APP_ID}'   # Microsoft Graph`,
    "$DelegatedPermissions = @('Calendars.ReadWrite', 'offline_access', 'openid', 'profile', 'email', 'User.Read')",
    '',
    "Write-Host 'Connecting to Microsoft Graph: sign in as an Application Administrator.'",
    ...connectGraphBlock(['Application.ReadWrite.All', ...(o.adminConsent ? ['DelegatedPermissionGrant.ReadWrite.All'] : [])]),
    '$scopeIds = @()',
    'foreach ($permission in $DelegatedPermissions) {',
    '    $scope = $graphSp.Oauth2PermissionScopes | Where-Object { $_.Value -eq $permission }',
    "    if (-not $scope) { throw ('Microsoft Graph has no delegated permission {0} in this cloud.' -f $permission) }",
    '    $scopeIds += $scope.Id',
    '}',
    '',
    ...findOrCreateAppBlock(
      'calpush: writes the calendar of each person who consents on its consent page (delegated, Microsoft Graph).',
      "$app = New-MgApplication -DisplayName $AppName -SignInAudience 'AzureADMyOrg' -Web @{ RedirectUris = @($RedirectUri) } -Notes '%NOTES%'",
    ),
    '$redirectUris = @($app.Web.RedirectUris)',
    'if ($redirectUris -notcontains $RedirectUri) {',
    '    Update-MgApplication -ApplicationId $app.Id -Web @{ RedirectUris = @($redirectUris) + @($RedirectUri) }',
    "    Write-Host ('Redirect URI added: {0}' -f $RedirectUri)",
    '} else {',
    "    Write-Host ('Redirect URI already there: {0}' -f $RedirectUri)",
    '}',
    '',
    ...declarePermissionsBlock('Scope', '$scopeIds'),
    ...UPLOAD_CERTIFICATE,
    ...FIND_OR_CREATE_SP,
  ];
  if (o.adminConsent) {
    body.push(
      "$wanted = $DelegatedPermissions -join ' '",
      "$grant = Get-MgOauth2PermissionGrant -Filter (\"clientId eq '{0}' and consentType eq 'AllPrincipals' and resourceId eq '{1}'\" -f $sp.Id, $graphSp.Id) | Select-Object -First 1",
      'if (-not $grant) {',
      "    New-MgOauth2PermissionGrant -ClientId $sp.Id -ConsentType 'AllPrincipals' -ResourceId $graphSp.Id -Scope $wanted | Out-Null",
      "    Write-Host ('Consent for all users: granted ({0})' -f $wanted)",
      '} else {',
      "    $granted = @(([string]$grant.Scope).Split(' ') | Where-Object { $_ })",
      '    $missing = @($DelegatedPermissions | Where-Object { $granted -notcontains $_ })',
      '    if ($missing.Count -gt 0) {',
      "        # PATCH /oauth2PermissionGrants/{id} (https://learn.microsoft.com/graph/api/oauth2permissiongrant-update)",
      "        Invoke-MgGraphRequest -Method 'PATCH' -Uri ('v1.0/oauth2PermissionGrants/{0}' -f $grant.Id) -Body @{ scope = ((@($granted) + @($missing)) -join ' ') }",
      "        Write-Host ('Consent for all users: added {0}' -f ($missing -join ' '))",
      '    } else {',
      "        Write-Host 'Consent for all users: already granted'",
      '    }',
      '}',
      '',
    );
  }
  body.push(
    "Write-Host ''",
    "Write-Host ('Done. Tenant id {0}, client id {1}, redirect URI {2}' -f $TenantId, $app.AppId, $RedirectUri)",
  );
  return script(header, parameters, body, version);
}

// ---------------------------------------------------------------------------------------------------------------
// ews-delegate: service accounts, a security group, calendar folder permissions (MyTimetable, seeds 000/001)
// ---------------------------------------------------------------------------------------------------------------

function ewsDelegateScript(o: EwsDelegateOptions, version: string): string {
  const header: ScriptHeader = {
    title: 'calpush setup ews-delegate',
    synopsis:
      'Gives calpush’s EWS service accounts delegate access to the calendars it writes in Exchange Server: the accounts, a mail-enabled security group holding them, and a calendar folder permission for the group on every mailbox in a CSV file.',
    steps: [
      'Creates each service account in Active Directory (-ServiceAccounts) unless it exists: password typed in (Read-Host -AsSecureString) or, with -GeneratePassword, generated and shown once; the password never expires and cannot be changed by the account.',
      'Creates the universal security group -GroupName unless it exists and adds the service accounts that are not members yet.',
      'Mail-enables the group in Exchange (Enable-DistributionGroup) unless it already is: folder permissions can only be given to mail-enabled groups.',
      'For every mailbox in the column -CsvColumn of -MailboxesCsv: finds its calendar folder (whatever its language calls it) and gives the group -AccessRight on it — Add-MailboxFolderPermission when the group has no entry yet, Set-MailboxFolderPermission when it has a different one, nothing when it is already right.',
    ],
    rights: [
      'Active Directory: create users and groups in -OrganizationalUnit (Account Operators, or delegated rights on the OU)',
      'Exchange: Organization Management, or Recipient Management (mail-enable the group and change folder permissions)',
    ],
    modules: ['ActiveDirectory (RSAT: Install-WindowsFeature RSAT-AD-PowerShell, or Add-WindowsCapability on Windows 10/11)', EMS],
    notes: [
      'Several service accounts multiply the EWS throttling budget (EWSMaxConcurrency and friends are counted per account); calpush spreads its requests over them.',
      'Run it in the Exchange Management Shell so that both the ActiveDirectory module and the Exchange cmdlets are there. A group created a moment ago may need AD replication before Exchange sees it: if Enable-DistributionGroup cannot find it, wait and run the script again.',
    ],
    requires: ['ActiveDirectory'],
  };
  const parameters: ScriptParameter[] = [
    { name: 'ServiceAccounts', type: 'string[]', value: o.serviceAccounts, help: 'sAMAccountNames of the service accounts' },
    { name: 'UpnSuffix', type: 'string', value: o.upnSuffix, help: 'UPN suffix of the accounts (user@<suffix>)' },
    { name: 'OrganizationalUnit', type: 'string', value: o.organizationalUnit, help: 'Distinguished name of the OU for the accounts and the group' },
    { name: 'GroupName', type: 'string', value: o.groupName, help: 'Name of the security group holding the service accounts' },
    { name: 'MailboxesCsv', type: 'string', value: o.mailboxesCsv, help: 'CSV file with the mailboxes calpush writes (one per row)' },
    { name: 'CsvColumn', type: 'string', value: o.csvColumn, help: 'The column of the CSV file with the mailbox addresses' },
    { name: 'AccessRight', type: 'string', value: o.accessRight, help: 'Calendar folder role for the group (Editor: create, change and delete items)' },
    { name: 'GeneratePassword', type: 'switch', value: o.generatePassword, help: 'Generate the passwords of new accounts and show them once, instead of asking for them' },
  ];
  const body: string[] = [
    'Import-Module ActiveDirectory',
    "if (-not (Get-Command -Name 'Add-MailboxFolderPermission' -ErrorAction SilentlyContinue)) {",
    "    throw 'The Exchange cmdlets are not loaded: run this script in the Exchange Management Shell.'",
    '}',
    "if (-not (Test-Path -LiteralPath $MailboxesCsv -PathType Leaf)) { throw ('CSV file not found: {0}' -f $MailboxesCsv) }",
    '',
    '# ---- 1. Service accounts --------------------------------------------------------------------------------------',
    'foreach ($sam in $ServiceAccounts) {',
    "    $upn = '{0}@{1}' -f $sam, $UpnSuffix",
    "    # The AD filter reads $sam itself: no quoting of the value needed.",
    "    $user = Get-ADUser -Filter 'SamAccountName -eq $sam'",
    '    if ($user) {',
    "        Write-Host ('Service account exists: {0}' -f $user.UserPrincipalName)",
    '        if (-not $user.Enabled) {',
    '            Enable-ADAccount -Identity $user',
    "            Write-Host ('Service account enabled: {0}' -f $user.UserPrincipalName)",
    '        }',
    '        continue',
    '    }',
    '    if ($GeneratePassword) {',
    '        $bytes = [byte[]]::new(24)',
    '        $random = [System.Security.Cryptography.RandomNumberGenerator]::Create()',
    '        $random.GetBytes($bytes)',
    '        $random.Dispose()',
    "        $plain = [Convert]::ToBase64String($bytes) + '-a1'",
    '        $password = ConvertTo-SecureString -String $plain -AsPlainText -Force',
    "        Write-Host ('Password of {0} (shown once: put it where calpush reads its secrets, then clear the screen): {1}' -f $upn, $plain)",
    '        $plain = $null',
    '    } else {',
    "        $password = Read-Host -AsSecureString -Prompt ('Password for the new service account {0}' -f $upn)",
    '    }',
    "    New-ADUser -Name $sam -SamAccountName $sam -UserPrincipalName $upn -DisplayName ('calpush service account {0}' -f $sam) -Description 'calpush: writes calendar events through EWS' -Path $OrganizationalUnit -AccountPassword $password -Enabled $true -PasswordNeverExpires $true -CannotChangePassword $true -ChangePasswordAtLogon $false",
    "    Write-Host ('Service account created: {0}' -f $upn)",
    '}',
    '',
    '# ---- 2. The security group --------------------------------------------------------------------------------',
    "$group = Get-ADGroup -Filter 'Name -eq $GroupName'",
    'if (-not $group) {',
    "    $group = New-ADGroup -Name $GroupName -GroupCategory 'Security' -GroupScope 'Universal' -Path $OrganizationalUnit -Description 'calpush service accounts: calendar permissions are given to this group' -PassThru",
    ...stopOnWhatIf('$group', '$GroupName').map((l) => `    ${l}`),
    "    Write-Host ('Security group created: {0}' -f $GroupName)",
    '} else {',
    "    Write-Host ('Security group exists: {0}' -f $GroupName)",
    '}',
    '$members = @(Get-ADGroupMember -Identity $group | ForEach-Object { $_.SamAccountName })',
    'foreach ($sam in $ServiceAccounts) {',
    '    if ($members -notcontains $sam) {',
    '        Add-ADGroupMember -Identity $group -Members $sam',
    "        Write-Host ('Added {0} to {1}' -f $sam, $GroupName)",
    '    }',
    '}',
    '',
    '# ---- 3. Mail-enable the group (Exchange gives folder permissions to mail-enabled groups only) ---------------',
    '$mailGroup = Get-DistributionGroup -Identity $group.DistinguishedName -ErrorAction SilentlyContinue',
    'if (-not $mailGroup) {',
    '    $mailGroup = Enable-DistributionGroup -Identity $group.DistinguishedName',
    ...stopOnWhatIf('$mailGroup', "'The mail-enabled group'").map((l) => `    ${l}`),
    "    Write-Host ('Group mail-enabled: {0}' -f $mailGroup.PrimarySmtpAddress)",
    '} else {',
    "    Write-Host ('Group is mail-enabled: {0}' -f $mailGroup.PrimarySmtpAddress)",
    '}',
    '$delegate = [string]$mailGroup.DistinguishedName',
    '',
    '# ---- 4. Calendar permissions for every mailbox in the CSV ----------------------------------------------------',
    '$rows = @(Import-Csv -LiteralPath $MailboxesCsv)',
    "if ($rows.Count -gt 0 -and @($rows[0].PSObject.Properties | Where-Object { $_.Name -eq $CsvColumn }).Count -eq 0) { throw ('The CSV file has no column {0}' -f $CsvColumn) }",
    '$mailboxes = @($rows | ForEach-Object { ([string]$_.$CsvColumn).Trim() } | Where-Object { $_ } | Sort-Object -Unique)',
    '$added = 0; $changed = 0; $unchanged = 0; $failed = 0',
    'foreach ($mailbox in $mailboxes) {',
    '    try {',
    "        # The calendar's name depends on the mailbox language (Calendar, Agenda, Kalender, ...): ask for its path.",
    "        $calendar = Get-MailboxFolderStatistics -Identity $mailbox -FolderScope 'Calendar' | Where-Object { $_.FolderType -eq 'Calendar' } | Select-Object -First 1",
    "        if (-not $calendar) { throw 'no calendar folder' }",
    "        $folder = '{0}:{1}' -f $mailbox, ([string]$calendar.FolderPath -replace '/', '\\')",
    '        $current = Get-MailboxFolderPermission -Identity $folder -User $delegate -ErrorAction SilentlyContinue',
    '        if (-not $current) {',
    '            Add-MailboxFolderPermission -Identity $folder -User $delegate -AccessRights $AccessRight | Out-Null',
    '            $added++',
    '        } elseif (@($current.AccessRights | ForEach-Object { [string]$_ }) -notcontains $AccessRight) {',
    '            Set-MailboxFolderPermission -Identity $folder -User $delegate -AccessRights $AccessRight | Out-Null',
    '            $changed++',
    '        } else {',
    '            $unchanged++',
    '        }',
    '    } catch {',
    '        $failed++',
    "        Write-Warning ('{0}: {1}' -f $mailbox, $_.Exception.Message)",
    '    }',
    '}',
    "Write-Host ('Calendar permissions ({0}): {1} added, {2} changed, {3} already right, {4} failed, of {5} mailboxes' -f $AccessRight, $added, $changed, $unchanged, $failed, $mailboxes.Count)",
  ];
  return script(header, parameters, body, version);
}

// ---------------------------------------------------------------------------------------------------------------
// ews-impersonation: ApplicationImpersonation limited by a management scope (Exchange Server; Cronofy, seed 002)
// ---------------------------------------------------------------------------------------------------------------

function ewsImpersonationScript(o: EwsImpersonationOptions, version: string): string {
  const header: ScriptHeader = {
    title: 'calpush setup ews-impersonation',
    synopsis:
      'Lets calpush’s EWS service account impersonate the mailboxes of one or more groups or room lists in Exchange Server: a management scope on their members and an ApplicationImpersonation role assignment limited to it.',
    steps: [
      'Checks that the service account -ServiceAccount and each group or room list of -ScopeGroup exist.',
      'Creates the management scope -ScopeName with the members of the -ScopeGroup lists (RecipientRestrictionFilter "MemberOfGroup -eq <distinguished name> -or …", one clause per list) unless it exists; points it at them if it names others.',
      'Assigns ApplicationImpersonation to the service account, limited to that scope (New-ManagementRoleAssignment -CustomRecipientWriteScope), unless the assignment exists.',
      'Lists the account’s ApplicationImpersonation assignments, and with -TestMailbox the ones that reach that mailbox (none means it is out of scope).',
    ],
    rights: ['Exchange: Organization Management (role management needs the Role Management role)'],
    modules: [EMS],
    notes: [
      'Exchange Server only. Microsoft removed ApplicationImpersonation from Exchange Online in February 2025: for Exchange Online use calpush setup graph-app (RBAC for Applications).',
      'MemberOfGroup does not look into nested groups: name every room list (in buckets of 75: rooms-1, rooms-2, …) in -ScopeGroup, or put the mailboxes in the group itself.',
    ],
    requires: [],
  };
  const parameters: ScriptParameter[] = [
    { name: 'ServiceAccount', type: 'string', value: o.serviceAccount, help: 'The service account that impersonates (UPN or DOMAIN\\sam)' },
    { name: 'ScopeGroup', type: 'string[]', value: o.scopeGroups, help: 'Groups or room lists whose members it may impersonate' },
    { name: 'ScopeName', type: 'string', value: o.scopeName, help: 'Name of the management scope' },
    { name: 'AssignmentName', type: 'string', value: o.assignmentName, help: 'Name of the role assignment (at most 64 characters)' },
    { name: 'TestMailbox', type: 'string', value: o.testMailbox, help: 'A mailbox that should be in scope, to check at the end; empty: no check' },
  ];
  const body: string[] = [
    "if (-not (Get-Command -Name 'New-ManagementRoleAssignment' -ErrorAction SilentlyContinue)) {",
    "    throw 'The Exchange cmdlets are not loaded: run this script in the Exchange Management Shell.'",
    '}',
    '$account = Get-User -Identity $ServiceAccount -ErrorAction SilentlyContinue',
    "if (-not $account) { throw ('The service account {0} was not found (create it first, e.g. with calpush setup ews-delegate).' -f $ServiceAccount) }",
    ...scopeGroupsBlock('The group or room list {0} was not found.'),
    '',
    ...SCOPE_ON_GROUPS,
    '',
    '$assignment = Get-ManagementRoleAssignment -Identity $AssignmentName -ErrorAction SilentlyContinue',
    'if (-not $assignment) {',
    "    New-ManagementRoleAssignment -Name $AssignmentName -Role 'ApplicationImpersonation' -User $ServiceAccount -CustomRecipientWriteScope $ScopeName | Out-Null",
    "    Write-Host ('Role assignment {0}: ApplicationImpersonation for {1}, scope {2}' -f $AssignmentName, $ServiceAccount, $ScopeName)",
    '} else {',
    "    Write-Host ('Role assignment {0}: already there' -f $AssignmentName)",
    '}',
    '',
    "Get-ManagementRoleAssignment -RoleAssignee $ServiceAccount -Role 'ApplicationImpersonation' | Format-List -Property 'Name', 'Role', 'RoleAssigneeName', 'CustomRecipientWriteScope'",
    'if ($TestMailbox) {',
    "    $reaching = @(Get-ManagementRoleAssignment -RoleAssignee $ServiceAccount -Role 'ApplicationImpersonation' -WritableRecipient $TestMailbox)",
    "    if ($reaching.Count -gt 0) { Write-Host ('{0} is in scope: the service account may impersonate it.' -f $TestMailbox) }",
    "    else { Write-Warning ('{0} is NOT in scope: add it to one of {1}.' -f $TestMailbox, $groupNames) }",
    '}',
  ];
  return script(header, parameters, body, version);
}

// ---------------------------------------------------------------------------------------------------------------
// rooms: room lists of at most 75 rooms, managed by the service account (Cronofy, seed 002)
// ---------------------------------------------------------------------------------------------------------------

function connectExchange(exchange: 'online' | 'onprem', probe: string): string[] {
  if (exchange === 'online') return ["Write-Host 'Connecting to Exchange Online: sign in as an Exchange Administrator.'", 'Connect-ExchangeOnline -ShowBanner:$false', ''];
  return [
    `if (-not (Get-Command -Name '${probe}' -ErrorAction SilentlyContinue)) {`,
    "    throw 'The Exchange cmdlets are not loaded: run this script in the Exchange Management Shell.'",
    '}',
    '',
  ];
}

function roomsScript(o: RoomsOptions, version: string): string {
  // Exchange Online: calpush reaches the rooms through Graph app-only, which has no account to manage the lists with
  // (it reads them with Place.Read.All); on-premises the EWS service account may manage them.
  const managed = o.exchange === 'onprem';
  const header: ScriptHeader = {
    title: `calpush setup rooms --exchange ${o.exchange}`,
    synopsis:
      'Puts the room mailboxes listed in a CSV file into room lists (distribution groups of type RoomList) of at most -BucketSize rooms each' +
      (managed ? ', managed by calpush’s EWS service account' : '') +
      ' — so that the rooms can be found, scoped by list, and named by list in calpush’s config (agent.roomLists).',
    steps: [
      o.exchange === 'online' ? 'Connects to Exchange Online.' : 'Checks that it runs in the Exchange Management Shell.',
      'Reads the room addresses from the column -CsvColumn of -RoomsCsv.',
      'Finds the existing room lists -Name, "-Name 2", "-Name 3", … and their members.',
      'Adds each room that is in none of them to the first list with room left (at most -BucketSize members, 75 as Microsoft recommends for room lists), creating the next list (New-DistributionGroup -RoomList) when all are full. Rooms already listed stay where they are; addresses that are not room mailboxes are reported and skipped.',
      ...(managed ? ['Makes -Manager (the EWS service account) the manager of every list (Set-DistributionGroup -ManagedBy), if given.'] : []),
      'Prints the lists’ addresses: for calpush’s config and for the scoping script’s -ScopeGroup.',
    ],
    rights: [o.exchange === 'online' ? 'Exchange Online: Exchange Administrator, or Recipient Management' : 'Exchange: Organization Management, or Recipient Management'],
    modules: [o.exchange === 'online' ? EXO_MODULE : EMS],
    notes: [
      'To let calpush write these rooms, scope it to every list: calpush setup ' +
        (managed ? 'ews-impersonation --scope-group <list 1> --scope-group <list 2> …' : 'graph-app --scoping rbac --scope-group <list 1> --scope-group <list 2> …') +
        ' (one management scope on the members of all of them: MemberOfGroup does not look into nested groups).',
      ...(managed
        ? []
        : ['calpush reads the lists through Microsoft Graph (GET /places/{list}/microsoft.graph.roomlist/rooms): its app needs the application permission Place.Read.All with admin consent. Graph app-only has no service account, so no manager is set.']),
    ],
    requires: o.exchange === 'online' ? ['ExchangeOnlineManagement'] : [],
  };
  const parameters: ScriptParameter[] = [
    { name: 'Name', type: 'string', value: o.name, help: 'Name of the (first) room list; the next ones get " 2", " 3", …' },
    { name: 'Alias', type: 'string', value: o.alias, help: 'Alias of the (first) room list; the next ones get "2", "3", …' },
    { name: 'PrimarySmtpAddress', type: 'string', value: o.primarySmtpAddress, help: 'Address of the (first) room list; the next ones get "-2", "-3", … before the @; empty: from the alias' },
    { name: 'RoomsCsv', type: 'string', value: o.roomsCsv, help: 'CSV file with the room mailboxes (one per row)' },
    { name: 'CsvColumn', type: 'string', value: o.csvColumn, help: 'The column of the CSV file with the room addresses' },
    ...(managed ? [{ name: 'Manager', type: 'string' as const, value: o.manager, help: 'The EWS service account that manages the lists; empty: leave the managers as they are' }] : []),
    { name: 'BucketSize', type: 'int', value: o.bucketSize, help: 'Most rooms in one list' },
  ];
  const body: string[] = [
    ...connectExchange(o.exchange, 'New-DistributionGroup'),
    "if (-not (Test-Path -LiteralPath $RoomsCsv -PathType Leaf)) { throw ('CSV file not found: {0}' -f $RoomsCsv) }",
    '$rows = @(Import-Csv -LiteralPath $RoomsCsv)',
    "if ($rows.Count -gt 0 -and @($rows[0].PSObject.Properties | Where-Object { $_.Name -eq $CsvColumn }).Count -eq 0) { throw ('The CSV file has no column {0}' -f $CsvColumn) }",
    '$rooms = @($rows | ForEach-Object { ([string]$_.$CsvColumn).Trim().ToLowerInvariant() } | Where-Object { $_ } | Sort-Object -Unique)',
    "Write-Host ('{0} rooms in {1}' -f $rooms.Count, $RoomsCsv)",
    '',
    '# ---- The existing lists and their members ---------------------------------------------------------------------',
    '$buckets = @()',
    '$n = 1',
    'while ($true) {',
    "    $listName = if ($n -eq 1) { $Name } else { '{0} {1}' -f $Name, $n }",
    '    $list = Get-DistributionGroup -Identity $listName -ErrorAction SilentlyContinue',
    '    if (-not $list) { break }',
    "    if ([string]$list.RecipientTypeDetails -ne 'RoomList') { throw ('{0} exists but is not a room list ({1})' -f $listName, $list.RecipientTypeDetails) }",
    '    $listMembers = @(Get-DistributionGroupMember -Identity $list.DistinguishedName -ResultSize Unlimited | ForEach-Object { ([string]$_.PrimarySmtpAddress).ToLowerInvariant() })',
    '    $buckets += [pscustomobject]@{ Name = $listName; Identity = [string]$list.DistinguishedName; Members = $listMembers }',
    "    Write-Host ('Room list {0}: {1} rooms' -f $listName, $listMembers.Count)",
    '    $n++',
    '}',
    '',
    '# ---- Add the rooms that are in no list yet ---------------------------------------------------------------------',
    '$listed = @($buckets | ForEach-Object { $_.Members })',
    '$added = 0; $skipped = 0',
    'foreach ($room in $rooms) {',
    '    if ($listed -contains $room) { continue }',
    '    $recipient = Get-Recipient -Identity $room -ErrorAction SilentlyContinue',
    "    if (-not $recipient) { Write-Warning ('{0}: no such recipient' -f $room); $skipped++; continue }",
    "    if ([string]$recipient.RecipientTypeDetails -ne 'RoomMailbox') { Write-Warning ('{0} is a {1}, not a room mailbox: left out' -f $room, $recipient.RecipientTypeDetails); $skipped++; continue }",
    '    $bucket = $buckets | Where-Object { $_.Members.Count -lt $BucketSize } | Select-Object -First 1',
    '    if (-not $bucket) {',
    '        $n = $buckets.Count + 1',
    "        $listName = if ($n -eq 1) { $Name } else { '{0} {1}' -f $Name, $n }",
    "        $listAlias = if ($n -eq 1) { $Alias } else { '{0}{1}' -f $Alias, $n }",
    '        if ($PrimarySmtpAddress) {',
    "            $parts = $PrimarySmtpAddress.Split('@')",
    "            $listAddress = if ($n -eq 1) { $PrimarySmtpAddress } else { '{0}-{1}@{2}' -f $parts[0], $n, $parts[1] }",
    '            $list = New-DistributionGroup -RoomList -Name $listName -Alias $listAlias -PrimarySmtpAddress $listAddress',
    '        } else {',
    '            $list = New-DistributionGroup -RoomList -Name $listName -Alias $listAlias',
    '        }',
    ...stopOnWhatIf('$list', '$listName').map((l) => `        ${l}`),
    "        Write-Host ('Room list created: {0} ({1})' -f $listName, $list.PrimarySmtpAddress)",
    '        $bucket = [pscustomobject]@{ Name = $listName; Identity = [string]$list.DistinguishedName; Members = @() }',
    '        $buckets += $bucket',
    '    }',
    '    Add-DistributionGroupMember -Identity $bucket.Identity -Member ([string]$recipient.PrimarySmtpAddress) -BypassSecurityGroupManagerCheck',
    '    $bucket.Members = @($bucket.Members) + @($room)',
    '    $added++',
    '}',
    "Write-Host ('{0} rooms added, {1} skipped, {2} already listed' -f $added, $skipped, ($rooms.Count - $added - $skipped))",
    '',
    ...(managed
      ? [
          '# ---- The service account manages every list ---------------------------------------------------------------------',
          'if ($Manager) {',
          '    foreach ($bucket in $buckets) {',
          '        Set-DistributionGroup -Identity $bucket.Identity -ManagedBy $Manager -BypassSecurityGroupManagerCheck',
          '    }',
          "    Write-Host ('Manager of the room lists: {0}' -f $Manager)",
          '}',
          '',
        ]
      : []),
    '$addresses = @()',
    'foreach ($bucket in $buckets) {',
    '    $list = Get-DistributionGroup -Identity $bucket.Identity',
    "    $list | Format-List -Property 'Name', 'PrimarySmtpAddress', 'RecipientTypeDetails', 'ManagedBy'",
    '    $addresses += [string]$list.PrimarySmtpAddress',
    '}',
    "Write-Host ''",
    "Write-Host 'The room lists, for calpush.config.json (agent.roomLists) and for the scoping script:'",
    "Write-Host ('  --scope-group {0}' -f ($addresses -join ' --scope-group '))",
  ];
  return script(header, parameters, body, version);
}

// ---------------------------------------------------------------------------------------------------------------
// equipment: an equipment mailbox whose calendar is processed by calpush (Pexip VMR scheduling, seed 004)
// ---------------------------------------------------------------------------------------------------------------

function equipmentScript(o: EquipmentOptions, version: string): string {
  const header: ScriptHeader = {
    title: `calpush setup equipment --exchange ${o.exchange}`,
    synopsis:
      'Creates an equipment mailbox whose calendar an external scheduler fills (as in Pexip’s VMR Scheduling for Exchange) and sets its calendar processing so that Exchange leaves the bookings to it.',
    steps: [
      o.exchange === 'online' ? 'Connects to Exchange Online.' : 'Checks that it runs in the Exchange Management Shell.',
      'Creates the equipment mailbox -Name (New-Mailbox -Equipment) unless a mailbox with -Alias exists; stops if that mailbox is not an equipment mailbox.',
      'Sets its calendar processing: AutomateProcessing None (neither the resource booking attendant nor the Calendar Attendant touches requests), conflicts allowed (100 %, any number), booking window 1080 days, no maximum duration, recurring meetings allowed, no scheduling horizon, not only during working hours.',
      'Shows the resulting settings (Get-CalendarProcessing).',
      'Adds the mailbox to -AddToGroup (the group calpush is scoped to), if given and not a member yet.',
    ],
    rights: [o.exchange === 'online' ? 'Exchange Online: Exchange Administrator, or Recipient Management' : 'Exchange: Organization Management, or Recipient Management'],
    modules: [o.exchange === 'online' ? EXO_MODULE : EMS],
    notes: ['An equipment mailbox needs no licence in Exchange Online. Set-CalendarProcessing is safe to run again: it sets the same values.'],
    requires: o.exchange === 'online' ? ['ExchangeOnlineManagement'] : [],
  };
  const parameters: ScriptParameter[] = [
    { name: 'Name', type: 'string', value: o.name, help: 'Name of the equipment mailbox' },
    { name: 'Alias', type: 'string', value: o.alias, help: 'Alias (mail nickname): the address is built from it' },
    { name: 'DisplayName', type: 'string', value: o.displayName, help: 'Display name (shown as the location of the meetings it is added to)' },
    { name: 'PrimarySmtpAddress', type: 'string', value: o.primarySmtpAddress, help: 'Primary address; empty: from the alias' },
  ];
  if (o.exchange === 'onprem') parameters.push({ name: 'OrganizationalUnit', type: 'string', value: o.organizationalUnit, help: 'OU for the mailbox’s account; empty: the default' });
  parameters.push({ name: 'AddToGroup', type: 'string', value: o.addToGroup, help: 'Group to add the mailbox to (calpush’s scope group); empty: none' });
  const create =
    o.exchange === 'onprem'
      ? [
          '    if ($OrganizationalUnit) {',
          '        $mailbox = New-Mailbox -Equipment -Name $Name -Alias $Alias -DisplayName $DisplayName -OrganizationalUnit $OrganizationalUnit',
          '    } else {',
          '        $mailbox = New-Mailbox -Equipment -Name $Name -Alias $Alias -DisplayName $DisplayName',
          '    }',
        ]
      : ['    $mailbox = New-Mailbox -Equipment -Name $Name -Alias $Alias -DisplayName $DisplayName'];
  const body: string[] = [
    ...connectExchange(o.exchange, 'Set-CalendarProcessing'),
    '$identity = if ($PrimarySmtpAddress) { $PrimarySmtpAddress } else { $Alias }',
    '$mailbox = Get-Mailbox -Identity $identity -ErrorAction SilentlyContinue',
    'if ($mailbox) {',
    "    if ([string]$mailbox.RecipientTypeDetails -ne 'EquipmentMailbox') { throw ('{0} exists but is a {1}, not an equipment mailbox.' -f $identity, $mailbox.RecipientTypeDetails) }",
    "    Write-Host ('Equipment mailbox exists: {0}' -f $mailbox.PrimarySmtpAddress)",
    '} else {',
    ...create,
    ...stopOnWhatIf('$mailbox', '$Name').map((l) => `    ${l}`),
    '    if ($PrimarySmtpAddress) {',
    "        Write-Warning ('Created with the address {0}; set -PrimarySmtpAddress {1} with Set-Mailbox if it differs.' -f $mailbox.PrimarySmtpAddress, $PrimarySmtpAddress)",
    '    }',
    "    Write-Host ('Equipment mailbox created: {0}' -f $mailbox.PrimarySmtpAddress)",
    '}',
    '$identity = [string]$mailbox.PrimarySmtpAddress',
    '',
    "Set-CalendarProcessing -Identity $identity -AutomateProcessing 'None' -AllowConflicts $true -BookingWindowInDays 1080 -MaximumDurationInMinutes 0 -AllowRecurringMeetings $true -EnforceSchedulingHorizon $false -ScheduleOnlyDuringWorkHours $false -ConflictPercentageAllowed 100 -MaximumConflictInstances 2147483647",
    "Get-CalendarProcessing -Identity $identity | Format-List -Property 'Identity', 'AutomateProcessing', 'AllowConflicts', 'BookingWindowInDays', 'MaximumDurationInMinutes', 'AllowRecurringMeetings', 'EnforceSchedulingHorizon', 'ScheduleOnlyDuringWorkHours', 'ConflictPercentageAllowed', 'MaximumConflictInstances'",
    '',
    'if ($AddToGroup) {',
    '    $members = @(Get-DistributionGroupMember -Identity $AddToGroup -ResultSize Unlimited | ForEach-Object { ([string]$_.PrimarySmtpAddress).ToLowerInvariant() })',
    '    if ($members -notcontains $identity.ToLowerInvariant()) {',
    '        Add-DistributionGroupMember -Identity $AddToGroup -Member $identity -BypassSecurityGroupManagerCheck',
    "        Write-Host ('Added to {0}' -f $AddToGroup)",
    '    } else {',
    "        Write-Host ('Already a member of {0}' -f $AddToGroup)",
    '    }',
    '}',
  ];
  return script(header, parameters, body, version);
}
