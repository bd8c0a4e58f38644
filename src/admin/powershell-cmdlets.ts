// Every cmdlet the scripts of `calpush setup` may call, with the parameters they may pass, taken from each
// cmdlet's reference page on Microsoft Learn (the URL is in the row; the syntax blocks there list the parameters).
// Only current modules: the Microsoft Graph PowerShell SDK, ExchangeOnlineManagement / the Exchange Management
// Shell, ActiveDirectory (RSAT) and PowerShell's own modules — never MSOnline or AzureAD, both retired.
//
// The test suite parses every generated script with a real PowerShell grammar (tree-sitter-powershell), takes
// every command and parameter from the parse tree and checks it against this table.

export type PowerShellModule =
  | 'Microsoft.PowerShell.Core'
  | 'Microsoft.PowerShell.Utility'
  | 'Microsoft.PowerShell.Management'
  | 'Microsoft.PowerShell.Security'
  | 'Microsoft.Graph.Authentication'
  | 'Microsoft.Graph.Applications'
  | 'Microsoft.Graph.Identity.SignIns'
  /** Connect-/Disconnect-ExchangeOnline: the ExchangeOnlineManagement module itself. */
  | 'ExchangeOnlineManagement'
  /** Exchange cmdlets: in Exchange Online through ExchangeOnlineManagement, on-premises in the Exchange Management Shell. */
  | 'Exchange'
  | 'ActiveDirectory';

export interface CmdletInfo {
  module: PowerShellModule;
  /** Microsoft Learn reference page. */
  learnUrl: string;
  /** Parameters we may pass (names as documented; common parameters are added below). */
  parameters: readonly string[];
  /** Supports -WhatIf / -Confirm (SupportsShouldProcess). */
  shouldProcess?: boolean;
  /** Exchange cmdlets: where the cmdlet exists. */
  availability?: 'online' | 'onprem' | 'both';
}

/** about_CommonParameters: every cmdlet takes these. */
export const COMMON_PARAMETERS: readonly string[] = [
  'Debug',
  'ErrorAction',
  'ErrorVariable',
  'InformationAction',
  'InformationVariable',
  'OutBuffer',
  'OutVariable',
  'PipelineVariable',
  'ProgressAction',
  'Verbose',
  'WarningAction',
  'WarningVariable',
];

const CORE = 'https://learn.microsoft.com/powershell/module/microsoft.powershell.core';
const UTILITY = 'https://learn.microsoft.com/powershell/module/microsoft.powershell.utility';
const MANAGEMENT = 'https://learn.microsoft.com/powershell/module/microsoft.powershell.management';
const SECURITY = 'https://learn.microsoft.com/powershell/module/microsoft.powershell.security';
const MG_AUTH = 'https://learn.microsoft.com/powershell/module/microsoft.graph.authentication';
const MG_APPS = 'https://learn.microsoft.com/powershell/module/microsoft.graph.applications';
const MG_SIGNINS = 'https://learn.microsoft.com/powershell/module/microsoft.graph.identity.signins';
const EXCHANGE = 'https://learn.microsoft.com/powershell/module/exchangepowershell';
const AD = 'https://learn.microsoft.com/powershell/module/activedirectory';

function row(module: PowerShellModule, base: string, name: string, parameters: string[], extra: Partial<CmdletInfo> = {}): [string, CmdletInfo] {
  return [name, { module, learnUrl: `${base}/${name.toLowerCase()}`, parameters, ...extra }];
}

export const POWERSHELL_CMDLETS: Readonly<Record<string, CmdletInfo>> = Object.fromEntries([
  // PowerShell itself
  row('Microsoft.PowerShell.Core', CORE, 'Import-Module', ['Name', 'MinimumVersion', 'RequiredVersion', 'Force']),
  row('Microsoft.PowerShell.Core', CORE, 'Get-Command', ['Name', 'Module', 'CommandType']),
  row('Microsoft.PowerShell.Core', CORE, 'Where-Object', ['FilterScript', 'Property', 'Value']),
  row('Microsoft.PowerShell.Core', CORE, 'ForEach-Object', ['Process', 'Begin', 'End', 'MemberName']),
  row('Microsoft.PowerShell.Core', CORE, 'Set-StrictMode', ['Version', 'Off']),
  row('Microsoft.PowerShell.Core', CORE, 'Out-Null', ['InputObject']),
  row('Microsoft.PowerShell.Utility', UTILITY, 'Write-Host', ['Object', 'NoNewline', 'Separator', 'ForegroundColor', 'BackgroundColor']),
  row('Microsoft.PowerShell.Utility', UTILITY, 'Write-Warning', ['Message']),
  row('Microsoft.PowerShell.Utility', UTILITY, 'Read-Host', ['Prompt', 'AsSecureString', 'MaskInput']),
  row('Microsoft.PowerShell.Utility', UTILITY, 'Import-Csv', ['Path', 'LiteralPath', 'Delimiter', 'Encoding', 'Header', 'UseCulture']),
  row('Microsoft.PowerShell.Utility', UTILITY, 'Select-Object', ['Property', 'ExpandProperty', 'First', 'Last', 'Skip', 'Unique']),
  row('Microsoft.PowerShell.Utility', UTILITY, 'Sort-Object', ['Property', 'Unique', 'Descending']),
  row('Microsoft.PowerShell.Utility', UTILITY, 'Format-List', ['Property']),
  row('Microsoft.PowerShell.Utility', UTILITY, 'Format-Table', ['Property', 'AutoSize', 'Wrap']),
  row('Microsoft.PowerShell.Utility', UTILITY, 'New-Object', ['TypeName', 'ArgumentList', 'Property']),
  row('Microsoft.PowerShell.Management', MANAGEMENT, 'Resolve-Path', ['Path', 'LiteralPath', 'Relative']),
  row('Microsoft.PowerShell.Management', MANAGEMENT, 'Test-Path', ['Path', 'LiteralPath', 'PathType']),
  row('Microsoft.PowerShell.Security', SECURITY, 'ConvertTo-SecureString', ['String', 'AsPlainText', 'Force', 'Key', 'SecureKey']),

  // Microsoft Graph PowerShell SDK (v2)
  row('Microsoft.Graph.Authentication', MG_AUTH, 'Connect-MgGraph', ['Scopes', 'TenantId', 'NoWelcome', 'UseDeviceCode', 'Environment', 'ContextScope', 'ClientId', 'CertificateThumbprint']),
  row('Microsoft.Graph.Authentication', MG_AUTH, 'Disconnect-MgGraph', []),
  row('Microsoft.Graph.Authentication', MG_AUTH, 'Get-MgContext', []),
  // Used where a cmdlet's parameter name has a digit (-OAuth2PermissionGrantId), which the grammar the tests parse
  // with cannot read: the same PATCH through the SDK's authenticated REST call.
  row('Microsoft.Graph.Authentication', MG_AUTH, 'Invoke-MgGraphRequest', ['Method', 'Uri', 'Body', 'ContentType', 'Headers', 'OutputType']),
  row('Microsoft.Graph.Applications', MG_APPS, 'Get-MgApplication', ['ApplicationId', 'Filter', 'All', 'Property', 'Search', 'Top', 'ConsistencyLevel', 'ExpandProperty', 'Sort']),
  row('Microsoft.Graph.Applications', MG_APPS, 'New-MgApplication', ['DisplayName', 'SignInAudience', 'Notes', 'Description', 'RequiredResourceAccess', 'KeyCredentials', 'Web', 'Tags', 'BodyParameter'], { shouldProcess: true }),
  row('Microsoft.Graph.Applications', MG_APPS, 'Update-MgApplication', ['ApplicationId', 'DisplayName', 'SignInAudience', 'Notes', 'Description', 'RequiredResourceAccess', 'KeyCredentials', 'Web', 'Tags', 'BodyParameter'], { shouldProcess: true }),
  row('Microsoft.Graph.Applications', MG_APPS, 'Get-MgServicePrincipal', ['ServicePrincipalId', 'Filter', 'All', 'Property', 'Search', 'Top', 'ConsistencyLevel']),
  row('Microsoft.Graph.Applications', MG_APPS, 'New-MgServicePrincipal', ['AppId', 'DisplayName', 'AccountEnabled', 'Tags', 'BodyParameter'], { shouldProcess: true }),
  row('Microsoft.Graph.Applications', MG_APPS, 'Get-MgServicePrincipalAppRoleAssignment', ['ServicePrincipalId', 'AppRoleAssignmentId', 'All', 'Filter', 'Top']),
  row('Microsoft.Graph.Applications', MG_APPS, 'New-MgServicePrincipalAppRoleAssignment', ['ServicePrincipalId', 'PrincipalId', 'ResourceId', 'AppRoleId', 'BodyParameter'], { shouldProcess: true }),
  row('Microsoft.Graph.Applications', MG_APPS, 'Remove-MgServicePrincipalAppRoleAssignment', ['ServicePrincipalId', 'AppRoleAssignmentId', 'IfMatch', 'PassThru'], { shouldProcess: true }),
  row('Microsoft.Graph.Identity.SignIns', MG_SIGNINS, 'Get-MgOauth2PermissionGrant', ['OAuth2PermissionGrantId', 'Filter', 'All', 'Top']),
  row('Microsoft.Graph.Identity.SignIns', MG_SIGNINS, 'New-MgOauth2PermissionGrant', ['ClientId', 'ConsentType', 'PrincipalId', 'ResourceId', 'Scope', 'BodyParameter'], { shouldProcess: true }),

  // ExchangeOnlineManagement (V3)
  row('ExchangeOnlineManagement', EXCHANGE, 'Connect-ExchangeOnline', ['UserPrincipalName', 'Organization', 'ShowBanner', 'Device', 'DelegatedOrganization', 'ExchangeEnvironmentName'], { availability: 'online' }),
  row('ExchangeOnlineManagement', EXCHANGE, 'Disconnect-ExchangeOnline', [], { shouldProcess: true, availability: 'online' }),

  // Exchange (Exchange Online and the Exchange Management Shell)
  row('Exchange', EXCHANGE, 'Get-OrganizationConfig', ['Identity'], { availability: 'both' }),
  row('Exchange', EXCHANGE, 'Enable-OrganizationCustomization', [], { shouldProcess: true, availability: 'online' }),
  row('Exchange', EXCHANGE, 'Get-Recipient', ['Identity', 'ResultSize', 'RecipientTypeDetails', 'Filter'], { availability: 'both' }),
  row('Exchange', EXCHANGE, 'Get-User', ['Identity', 'ResultSize', 'Filter'], { availability: 'both' }),
  row('Exchange', EXCHANGE, 'Get-ServicePrincipal', ['Identity', 'Organization'], { availability: 'online' }),
  row('Exchange', EXCHANGE, 'New-ServicePrincipal', ['AppId', 'ObjectId', 'DisplayName'], { shouldProcess: true, availability: 'online' }),
  row('Exchange', EXCHANGE, 'Test-ServicePrincipalAuthorization', ['Identity', 'Resource'], { shouldProcess: true, availability: 'online' }),
  row('Exchange', EXCHANGE, 'Get-ManagementScope', ['Identity', 'Exclusive', 'Orphan'], { availability: 'both' }),
  row('Exchange', EXCHANGE, 'New-ManagementScope', ['Name', 'RecipientRestrictionFilter', 'RecipientRoot', 'Exclusive', 'Force'], { shouldProcess: true, availability: 'both' }),
  row('Exchange', EXCHANGE, 'Set-ManagementScope', ['Identity', 'RecipientRestrictionFilter', 'RecipientRoot', 'Name', 'Force'], { shouldProcess: true, availability: 'both' }),
  row('Exchange', EXCHANGE, 'Get-ManagementRoleAssignment', ['Identity', 'Role', 'RoleAssignee', 'RoleAssigneeType', 'WritableRecipient', 'GetEffectiveUsers', 'CustomRecipientWriteScope', 'Enabled'], { availability: 'both' }),
  row('Exchange', EXCHANGE, 'New-ManagementRoleAssignment', ['Name', 'Role', 'App', 'User', 'SecurityGroup', 'Policy', 'CustomResourceScope', 'CustomRecipientWriteScope', 'RecipientAdministrativeUnitScope', 'Force'], { shouldProcess: true, availability: 'both' }),
  row('Exchange', EXCHANGE, 'Get-ApplicationAccessPolicy', ['Identity'], { availability: 'online' }),
  row('Exchange', EXCHANGE, 'New-ApplicationAccessPolicy', ['AppId', 'PolicyScopeGroupId', 'AccessRight', 'Description'], { shouldProcess: true, availability: 'online' }),
  row('Exchange', EXCHANGE, 'Test-ApplicationAccessPolicy', ['Identity', 'AppId'], { availability: 'online' }),
  row('Exchange', EXCHANGE, 'Get-DistributionGroup', ['Identity', 'ResultSize', 'RecipientTypeDetails', 'Filter'], { availability: 'both' }),
  row('Exchange', EXCHANGE, 'New-DistributionGroup', ['Name', 'Alias', 'DisplayName', 'PrimarySmtpAddress', 'RoomList', 'Type', 'ManagedBy', 'Members', 'OrganizationalUnit', 'Notes'], { shouldProcess: true, availability: 'both' }),
  row('Exchange', EXCHANGE, 'Set-DistributionGroup', ['Identity', 'ManagedBy', 'BypassSecurityGroupManagerCheck', 'DisplayName', 'RoomList'], { shouldProcess: true, availability: 'both' }),
  row('Exchange', EXCHANGE, 'Enable-DistributionGroup', ['Identity', 'Alias', 'DisplayName', 'PrimarySmtpAddress'], { shouldProcess: true, availability: 'onprem' }),
  row('Exchange', EXCHANGE, 'Get-DistributionGroupMember', ['Identity', 'ResultSize'], { availability: 'both' }),
  row('Exchange', EXCHANGE, 'Add-DistributionGroupMember', ['Identity', 'Member', 'BypassSecurityGroupManagerCheck'], { shouldProcess: true, availability: 'both' }),
  row('Exchange', EXCHANGE, 'Get-Mailbox', ['Identity', 'RecipientTypeDetails', 'ResultSize', 'Filter'], { availability: 'both' }),
  row('Exchange', EXCHANGE, 'New-Mailbox', ['Name', 'Equipment', 'Room', 'Alias', 'DisplayName', 'PrimarySmtpAddress', 'OrganizationalUnit', 'UserPrincipalName'], { shouldProcess: true, availability: 'both' }),
  row('Exchange', EXCHANGE, 'Get-CalendarProcessing', ['Identity'], { availability: 'both' }),
  row(
    'Exchange',
    EXCHANGE,
    'Set-CalendarProcessing',
    ['Identity', 'AutomateProcessing', 'AllowConflicts', 'BookingWindowInDays', 'MaximumDurationInMinutes', 'AllowRecurringMeetings', 'EnforceSchedulingHorizon', 'ScheduleOnlyDuringWorkHours', 'ConflictPercentageAllowed', 'MaximumConflictInstances', 'DeleteSubject', 'AddOrganizerToSubject', 'RemovePrivateProperty', 'ProcessExternalMeetingMessages'],
    { shouldProcess: true, availability: 'both' },
  ),
  row('Exchange', EXCHANGE, 'Get-MailboxFolderStatistics', ['Identity', 'FolderScope'], { availability: 'both' }),
  row('Exchange', EXCHANGE, 'Get-MailboxFolderPermission', ['Identity', 'User'], { availability: 'both' }),
  row('Exchange', EXCHANGE, 'Add-MailboxFolderPermission', ['Identity', 'User', 'AccessRights', 'SharingPermissionFlags', 'SendNotificationToUser'], { shouldProcess: true, availability: 'both' }),
  row('Exchange', EXCHANGE, 'Set-MailboxFolderPermission', ['Identity', 'User', 'AccessRights', 'SharingPermissionFlags', 'SendNotificationToUser'], { shouldProcess: true, availability: 'both' }),

  // ActiveDirectory (RSAT)
  row('ActiveDirectory', AD, 'Get-ADUser', ['Identity', 'Filter', 'LDAPFilter', 'Properties', 'SearchBase', 'Server']),
  row('ActiveDirectory', AD, 'New-ADUser', ['Name', 'SamAccountName', 'UserPrincipalName', 'DisplayName', 'Description', 'Path', 'AccountPassword', 'Enabled', 'PasswordNeverExpires', 'CannotChangePassword', 'ChangePasswordAtLogon', 'AccountExpirationDate', 'PassThru', 'Server'], { shouldProcess: true }),
  row('ActiveDirectory', AD, 'Enable-ADAccount', ['Identity', 'PassThru', 'Server'], { shouldProcess: true }),
  row('ActiveDirectory', AD, 'Get-ADGroup', ['Identity', 'Filter', 'LDAPFilter', 'Properties', 'SearchBase', 'Server']),
  row('ActiveDirectory', AD, 'New-ADGroup', ['Name', 'SamAccountName', 'DisplayName', 'Description', 'GroupCategory', 'GroupScope', 'Path', 'PassThru', 'Server'], { shouldProcess: true }),
  row('ActiveDirectory', AD, 'Get-ADGroupMember', ['Identity', 'Recursive', 'Server']),
  row('ActiveDirectory', AD, 'Add-ADGroupMember', ['Identity', 'Members', 'PassThru', 'Server'], { shouldProcess: true }),
]);

/** Modules that must never appear: retired by Microsoft (MSOnline, AzureAD, AzureADPreview). */
export const RETIRED_MODULE_PATTERNS: readonly RegExp[] = [/^(Connect|Get|Set|New|Remove|Add)-Msol/i, /^(Connect|Get|Set|New|Remove|Add)-AzureAD/i];

/** The parameters a cmdlet accepts: its own, the common ones, and -WhatIf/-Confirm when it supports them. */
export function allowedParameters(cmdlet: string): Set<string> | undefined {
  const info = POWERSHELL_CMDLETS[cmdlet];
  if (!info) return undefined;
  return new Set([...info.parameters, ...COMMON_PARAMETERS, ...(info.shouldProcess ? ['WhatIf', 'Confirm'] : [])]);
}
