// Property: no value, whatever its characters, can leave the PowerShell string it is put in. Checked with the
// real grammar: the literal parses as one verbatim string whose value is the input, and a whole generated script
// keeps exactly the commands and parameters it has with harmless values.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { psQuote, psUnquote } from '../../src/admin/powershell.ts';
import { generateSetupScript, type SetupOptions } from '../../src/admin/setup-scripts.ts';
import { commandUses, parsePowerShell, syntaxErrors, verbatimStrings } from './powershell-ast.ts';

/** Characters that mean something to PowerShell, plus the typographic quotes its tokenizer treats as '. */
const SPECIAL = ["'", '‘', '’', '‚', '‛', '"', '“', '”', '$', '`', '(', ')', '{', '}', '@', '#', ';', '|', '&', '<', '>', '\n', '\r', ' ', '-', 'a', 'Z', '0', '\\', 'é', '😀'];
const anyText = fc
  .oneof(
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.string({ unit: fc.constantFrom(...SPECIAL), maxLength: 40 }),
    fc.array(fc.constantFrom("'", '’', "''", "'@", "@'", "'; Remove-Item C:\\ -Recurse; '", '$(whoami)', '`n'), { maxLength: 6 }).map((parts) => parts.join('')),
  )
  .filter((s) => !s.includes('\u0000'));
const nonEmpty = anyText.filter((s) => s.length > 0);

describe('psQuote', () => {
  it('makes a literal that parses as one string whose value is the input', async () => {
    await fc.assert(
      fc.asyncProperty(anyText, async (value) => {
        const literal = psQuote(value);
        const tree = await parsePowerShell(`$v = ${literal}\nWrite-Host $v\n`);
        expect(syntaxErrors(tree)).toEqual([]);
        expect(verbatimStrings(tree)).toEqual([literal]);
        expect(psUnquote(literal)).toBe(value);
        expect(commandUses(tree).map((c) => c.name)).toEqual(['Write-Host']);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses NUL instead of writing a literal some readers would cut short', () => {
    fc.assert(
      fc.property(anyText, anyText, (a, b) => {
        expect(() => psQuote(`${a}\u0000${b}`)).toThrow(RangeError);
      }),
    );
  });
});

function scripts(v: string): SetupOptions[] {
  return [
    { mode: 'graph-app', options: { appName: v, tenantId: v, clientId: v, certificatePath: v, scoping: 'rbac', scopeGroups: [v, v], scopeName: v, assignmentName: v, testMailbox: v } },
    { mode: 'graph-app', options: { appName: v, scoping: 'access-policy', scopeGroups: [v], scopeName: v, assignmentName: v, testMailbox: v } },
    { mode: 'graph-delegated', options: { appName: v, tenantId: v, clientId: v, redirectUri: v, certificatePath: v, adminConsent: true } },
    { mode: 'ews-delegate', options: { serviceAccounts: [v, v], upnSuffix: v, organizationalUnit: v, groupName: v, mailboxesCsv: v, csvColumn: v, accessRight: 'Editor', generatePassword: false } },
    { mode: 'ews-impersonation', options: { serviceAccount: v, scopeGroups: [v], scopeName: v, assignmentName: v, testMailbox: v } },
    { mode: 'rooms', options: { exchange: 'onprem', name: v, alias: v, primarySmtpAddress: v, roomsCsv: v, csvColumn: v, manager: v, bucketSize: 75 } },
    { mode: 'equipment', options: { exchange: 'onprem', name: v, alias: v, displayName: v, primarySmtpAddress: v, organizationalUnit: v, addToGroup: v } },
  ];
}

async function shape(script: string) {
  const tree = await parsePowerShell(script);
  return { errors: syntaxErrors(tree), commands: commandUses(tree).map((c) => `${c.name} ${c.parameters.join(' ')}`) };
}

describe('generated scripts with arbitrary values', () => {
  it('keep exactly the commands they have with harmless values, and every value reads back', async () => {
    const baselines = await Promise.all(scripts('harmless').map((s) => shape(generateSetupScript(s, '0.1.0'))));
    await fc.assert(
      fc.asyncProperty(nonEmpty, fc.nat({ max: 6 }), async (value, which) => {
        const setup = scripts(value)[which]!;
        const script = generateSetupScript(setup, '0.1.0');
        const { errors, commands } = await shape(script);
        expect(errors).toEqual([]);
        expect(commands).toEqual(baselines[which]!.commands);
        // The value sits in the param block as a literal PowerShell reads back as the value itself.
        const tree = await parsePowerShell(script);
        expect(verbatimStrings(tree).map((l) => psUnquote(l))).toContain(value);
      }),
      { numRuns: 120 },
    );
  });
});
