// Building blocks for the PowerShell scripts `calpush setup` writes: quoting of values, the header every script
// starts with, and writing a script so that Windows PowerShell 5.1 reads it as UTF-8.
import { writeFileSync } from 'node:fs';

/**
 * The characters PowerShell's tokenizer treats as a single quote: the ASCII apostrophe and the typographic
 * quotes U+2018, U+2019, U+201A and U+201B (System.Management.Automation.Language.CharExtensions.IsSingleQuote).
 * Inside a single-quoted (verbatim) string, each of them ends the string unless it is doubled.
 */
const SINGLE_QUOTE_CHARS = /['\u2018\u2019\u201A\u201B]/g;

/**
 * A PowerShell single-quoted string literal whose value is exactly `value`. Verbatim strings expand nothing
 * ($variables, $(subexpressions) and backticks are literal); the only escape is a doubled quote character, so
 * doubling every quote character is enough for any input to stay inside the string. NUL is refused.
 */
export function psQuote(value: string): string {
  // NUL ends the input for many readers of a script (editors, parsers, tools that pass it on as a C string):
  // refuse it rather than emit a file that some of them would cut short.
  if (value.includes('\u0000')) throw new RangeError('a PowerShell string literal cannot carry a NUL character');
  return `'${value.replace(SINGLE_QUOTE_CHARS, (quote) => quote + quote)}'`;
}

/** The value of a single-quoted literal as PowerShell reads it (the inverse of psQuote; tests use it). */
export function psUnquote(literal: string): string {
  if (literal.length < 2 || !isQuote(literal[0]!) || !isQuote(literal[literal.length - 1]!)) throw new Error('not a single-quoted literal');
  const inner = [...literal.slice(1, -1)];
  let out = '';
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i]!;
    if (isQuote(c)) {
      const next = inner[i + 1];
      if (next === undefined || !isQuote(next)) throw new Error(`unescaped quote at ${i + 1}`);
      out += next;
      i++;
    } else out += c;
  }
  return out;
}

function isQuote(c: string): boolean {
  return /^['\u2018\u2019\u201A\u201B]$/.test(c);
}

/** `@('a', 'b')` */
export function psArray(values: readonly string[]): string {
  return `@(${values.map(psQuote).join(', ')})`;
}

export function psBool(value: boolean): string {
  return value ? '$true' : '$false';
}

/** A script parameter: `[string] $Name = 'value'` (typed, with its default filled in from the flags or config). */
export interface ScriptParameter {
  name: string;
  type: 'string' | 'string[]' | 'int' | 'switch';
  value: string | string[] | number | boolean | undefined;
  /** What the value is, shown as a comment above the parameter. */
  help: string;
}

export function renderParameter(p: ScriptParameter): string {
  let literal: string;
  if (p.type === 'switch') return `    # ${p.help}\n    [switch] $${p.name}${p.value ? ' = $true' : ''}`;
  if (p.type === 'int') literal = String(Number(p.value ?? 0));
  else if (p.type === 'string[]') literal = psArray(Array.isArray(p.value) ? p.value : p.value === undefined ? [] : [String(p.value)]);
  else literal = psQuote(p.value === undefined ? '' : String(p.value));
  if (!/^[A-Za-z][A-Za-z0-9]*$/.test(p.name)) throw new Error(`bad parameter name ${p.name}`);
  return `    # ${p.help}\n    [${p.type}] $${p.name} = ${literal}`;
}

export interface ScriptHeader {
  /** e.g. "calpush setup graph-app" */
  title: string;
  /** One paragraph: what the script is for. */
  synopsis: string;
  /** The steps, in order. */
  steps: string[];
  /** Roles and rights the person running it needs. */
  rights: string[];
  /** Modules and where they come from. */
  modules: string[];
  /** Extra remarks (deprecations, propagation delays, ...). */
  notes?: string[];
  /** Module names for #Requires -Modules (only those installable from the PowerShell Gallery). */
  requires: string[];
}

/** Comment lines may not close the help block; everything we put there is our own text, but guard anyway. */
function commentSafe(text: string): string {
  return text.replace(/#>/g, '# >').replace(/<#/g, '< #');
}

function wrap(text: string, indent: string, width = 110): string[] {
  const words = text.split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    if (line && line.length + 1 + word.length > width - indent.length) {
      lines.push(indent + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(indent + line);
  return lines;
}

/** Comment-based help (Get-Help shows it), #Requires, and the parameter block. */
export function renderHeader(header: ScriptHeader, parameters: ScriptParameter[], version: string): string {
  const out: string[] = ['<#', '.SYNOPSIS', ...wrap(commentSafe(header.synopsis), '    '), '', '.DESCRIPTION', '    What it does (each step looks before it creates, so running it again is safe):'];
  header.steps.forEach((step, i) => {
    const [first, ...rest] = wrap(commentSafe(step), '        ');
    out.push(`    ${String(i + 1).padStart(2)}. ${first!.trimStart()}`, ...rest);
  });
  out.push('', '    Rights it needs:');
  for (const right of header.rights) {
    const [first, ...rest] = wrap(commentSafe(right), '        ');
    out.push(`      - ${first!.trimStart()}`, ...rest);
  }
  out.push('', '    Modules:');
  for (const module of header.modules) {
    const [first, ...rest] = wrap(commentSafe(module), '        ');
    out.push(`      - ${first!.trimStart()}`, ...rest);
  }
  out.push('', '    It contains no secret: passwords are typed in (Read-Host -AsSecureString) or generated by the script and shown', '    once; certificates are uploaded without their private key.');
  for (const note of header.notes ?? []) out.push('', ...wrap(commentSafe(note), '    '));
  out.push('', '    Try it first with -WhatIf: the cmdlets that change something then only say what they would do.');
  out.push('', '.NOTES', `    Generated by calpush ${version} (${commentSafe(header.title)}). Windows PowerShell 5.1 or PowerShell 7.`, '#>');
  if (header.requires.length) out.push(`#Requires -Modules ${header.requires.join(', ')}`);
  out.push('[CmdletBinding(SupportsShouldProcess = $true)]', 'param(');
  out.push(parameters.map(renderParameter).join(',\n'));
  out.push(')', '', 'Set-StrictMode -Version 3.0', "$ErrorActionPreference = 'Stop'", '');
  return out.join('\n');
}

/**
 * Writes a script as UTF-8 with a byte-order mark: Windows PowerShell 5.1 reads a .ps1 without one in the
 * system's ANSI code page, where UTF-8 bytes of a name like "Zoë" turn into other characters — including, for
 * some letters, the typographic quotes U+2018/U+2019 (bytes 0x91/0x92 in Windows-1252) that end a string.
 * CRLF line ends, as Windows tools expect.
 */
export function writeScript(path: string, script: string): void {
  const text = script.replace(/\r?\n/g, '\r\n');
  writeFileSync(path, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text, 'utf8')]));
}
