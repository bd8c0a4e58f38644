// calpush cert create: a self-signed certificate for app-only authentication to Microsoft Entra ID — the private
// key (PEM, 0600), the certificate (PEM, to upload), a passphrase-protected PFX — and how to register it.
import { relative, resolve, dirname, isAbsolute } from 'node:path';
import type { Command } from 'commander';
import {
  CertificateRequestError,
  certificatePaths,
  createSelfSignedCertificate,
  KEY_SIZES,
  writeCertificateFiles,
  type CertificateFiles,
  type CreatedCertificate,
  type KeySize,
} from '../../admin/certificate.ts';
import { promptHidden, PromptCancelled } from '../../admin/prompt.ts';
import { psQuote } from '../../admin/powershell.ts';
import { graphTarget, loadConfig } from '../../app/config.ts';
import { ConfigError } from '../../config/secrets.ts';
import { CalpushError } from '../../model/errors.ts';

export interface CertCreateOptions {
  subject: string;
  keySize: string;
  days: string;
  outDir: string;
  name: string;
  pfx: boolean;
  passphraseEnv?: string;
  clientId?: string;
  config?: string;
  force?: boolean;
  json?: boolean;
}

/** A flag of `calpush cert create` that cannot be used as given. */
class UsageError extends CalpushError {
  constructor(message: string) {
    super('UsageError', message);
  }
}

async function passphraseFor(options: CertCreateOptions): Promise<string | undefined> {
  if (!options.pfx) return undefined;
  if (options.passphraseEnv) {
    const value = process.env[options.passphraseEnv];
    if (!value) throw new UsageError(`--passphrase-env ${options.passphraseEnv}: the environment variable is not set or empty`);
    return value;
  }
  if (!process.stdin.isTTY) {
    throw new UsageError('the PFX needs a passphrase: name an environment variable holding it (--passphrase-env VAR), run on a terminal to type it, or pass --no-pfx');
  }
  const first = await promptHidden('Passphrase for the PFX file: ');
  if (first.length < 8) throw new UsageError('the passphrase must have at least 8 characters');
  const second = await promptHidden('Same passphrase again: ');
  if (first !== second) throw new UsageError('the passphrases differ');
  return first;
}

/** The credential block for calpush.config.json; paths relative to the config's directory when one is named. */
export function configCredential(files: CertificateFiles, configPath?: string): { kind: 'certificate'; privateKey: { file: string }; certificate: { file: string } } {
  const base = configPath ? dirname(resolve(configPath)) : undefined;
  const show = (path: string) => {
    if (!base) return path;
    const rel = relative(base, path);
    return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
  };
  return { kind: 'certificate', privateKey: { file: show(files.privateKey) }, certificate: { file: show(files.certificate) } };
}

export function uploadInstructions(certificatePath: string, clientId: string | undefined) {
  const id = clientId ?? '<client id>';
  return {
    portal: `Microsoft Entra admin center > App registrations > ${clientId ? `the app ${clientId}` : 'your app'} > Certificates & secrets > Certificates > Upload certificate > ${certificatePath}`,
    powershell: [
      "Connect-MgGraph -Scopes 'Application.ReadWrite.All'",
      `$app = Get-MgApplication -Filter ("appId eq '{0}'" -f ${psQuote(id)})`,
      `$cert = New-Object -TypeName System.Security.Cryptography.X509Certificates.X509Certificate2 -ArgumentList ${psQuote(certificatePath)}`,
      "$key = @{ Type = 'AsymmetricX509Cert'; Usage = 'Verify'; Key = $cert.RawData; DisplayName = $cert.Subject }",
      'Update-MgApplication -ApplicationId $app.Id -KeyCredentials (@($app.KeyCredentials) + @($key))',
    ],
    azureCli: `az ad app credential reset --id ${id} --cert "@${certificatePath}" --append`,
  };
}

function describe(created: CreatedCertificate, files: CertificateFiles, clientId: string | undefined, configPath: string | undefined): string {
  const up = uploadInstructions(files.certificate, clientId);
  const lines = [
    `Created a self-signed certificate for app authentication: ${created.subject}, RSA ${created.keySize}, SHA-256,`,
    `valid ${created.notBefore.toISOString().slice(0, 10)} to ${created.notAfter.toISOString().slice(0, 10)}.`,
    '',
    `  private key   ${files.privateKey}   (mode 0600: calpush reads it; never upload or share it)`,
    `  certificate   ${files.certificate}   (the public part: upload this one)`,
    ...(files.pfx ? [`  PFX           ${files.pfx}   (key + certificate under your passphrase: for Windows, Key Vault, Java keystores)`] : []),
    '',
    `  SHA-1 thumbprint     ${created.sha1}   (what the Entra portal lists)`,
    `  SHA-256 thumbprint   ${created.sha256}   (what calpush sends, x5t#S256)`,
    '',
    'Register it on the app registration, one of:',
    `  - Portal: ${up.portal}`,
    '  - Microsoft Graph PowerShell (on a machine with the certificate file):',
    ...up.powershell.map((l) => `      ${l}`),
    '    or let calpush setup graph-app --certificate <file> write the whole registration script.',
    `  - Azure CLI: ${up.azureCli}`,
    '',
    `Then in ${configPath ?? 'calpush.config.json'}, "target":`,
    `  "credential": ${JSON.stringify(configCredential(files, configPath))}`,
    '',
    'Check it with: npx calpush doctor <mailbox> -c calpush.config.json',
  ];
  return `${lines.join('\n')}\n`;
}

export function registerCertCommand(program: Command): void {
  const cert = program.command('cert').description('certificates for app-only authentication to Microsoft Entra ID');
  cert
    .command('create')
    .description('create a self-signed certificate (private key, certificate, PFX) and print how to register it')
    .option('--subject <dn>', 'subject, e.g. "CN=calpush, O=Contoso University"', 'CN=calpush')
    .option('--key-size <bits>', `RSA key size: ${KEY_SIZES.join(', ')}`, '2048')
    .option('--days <n>', 'validity in days', '365')
    .option('--out-dir <dir>', 'where to write the files', '.')
    .option('--name <name>', 'file name stem: <name>-key.pem, <name>-cert.pem, <name>.pfx', 'calpush-app')
    .option('--no-pfx', 'skip the PFX file (then no passphrase is needed)')
    .option('--passphrase-env <VAR>', 'environment variable holding the PFX passphrase (else it is asked for on the terminal)')
    .option('--client-id <id>', 'application (client) id, to fill into the upload commands')
    .option('-c, --config <file>', 'calpush config: its clientId fills the upload commands, and the printed paths are relative to it')
    .option('--force', 'replace existing files')
    .option('--json', 'print the result as JSON')
    .action(async (options: CertCreateOptions) => {
      try {
        const keySize = Number(options.keySize) as KeySize;
        const days = Number(options.days);
        if (!/^[A-Za-z0-9._-]{1,64}$/.test(options.name)) throw new UsageError('--name may only hold letters, digits, dot, dash and underscore');
        let clientId = options.clientId;
        if (!clientId && options.config) clientId = graphTarget(loadConfig(options.config).config).clientId;
        const created = createSelfSignedCertificate({ subject: options.subject, keySize, days });
        const files = certificatePaths(options.outDir, options.name, options.pfx);
        const passphrase = await passphraseFor(options);
        writeCertificateFiles(created, files, { ...(passphrase ? { passphrase } : {}), force: options.force ?? false });
        if (options.json) {
          const up = uploadInstructions(files.certificate, clientId);
          process.stdout.write(
            `${JSON.stringify(
              {
                files,
                subject: created.subject,
                keySize: created.keySize,
                notBefore: created.notBefore.toISOString(),
                notAfter: created.notAfter.toISOString(),
                thumbprints: { sha1: created.sha1, sha256: created.sha256 },
                credential: configCredential(files, options.config),
                upload: up,
              },
              null,
              2,
            )}\n`,
          );
        } else process.stdout.write(describe(created, files, clientId, options.config));
      } catch (error) {
        if (error instanceof PromptCancelled) {
          process.exitCode = 130;
          return;
        }
        if (error instanceof UsageError || error instanceof CertificateRequestError || error instanceof ConfigError) {
          process.stderr.write(`calpush cert create: ${error.message}\n`);
          process.exitCode = 2;
          return;
        }
        throw error;
      }
    });
}
