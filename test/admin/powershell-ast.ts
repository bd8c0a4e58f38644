// A real PowerShell parser for the tests: tree-sitter-powershell's grammar compiled to WebAssembly (shipped in the
// npm package), run by web-tree-sitter. Nothing is downloaded at run time.
import { createRequire } from 'node:module';
import { Language, Parser, type Node, type Tree } from 'web-tree-sitter';

const require = createRequire(import.meta.url);
let parserPromise: Promise<Parser> | undefined;

export function powershellParser(): Promise<Parser> {
  parserPromise ??= (async () => {
    await Parser.init();
    const language = await Language.load(require.resolve('tree-sitter-powershell/tree-sitter-powershell.wasm'));
    const parser = new Parser();
    parser.setLanguage(language);
    return parser;
  })();
  return parserPromise;
}

export async function parsePowerShell(source: string): Promise<Tree> {
  const tree = (await powershellParser()).parse(source);
  if (!tree) throw new Error('tree-sitter returned no tree');
  return tree;
}

function* walk(node: Node): Generator<Node> {
  yield node;
  for (const child of node.children) if (child) yield* walk(child);
}

/** ERROR and MISSING nodes, with their position: what a syntax error looks like in a tree-sitter tree. */
export function syntaxErrors(tree: Tree): string[] {
  const errors: string[] = [];
  for (const node of walk(tree.rootNode)) {
    if (node.type === 'ERROR' || node.isMissing) {
      errors.push(`${node.isMissing ? 'missing ' + node.type : 'syntax error'} at line ${node.startPosition.row + 1}, column ${node.startPosition.column + 1}: ${node.text.slice(0, 80)}`);
    }
  }
  return errors;
}

export interface CommandUse {
  /** As written, e.g. "Get-MgApplication"; null for a dynamic invocation (& $x, & 'name'). */
  name: string | null;
  /** Parameter names without the dash (and without a trailing colon). */
  parameters: string[];
  line: number;
  text: string;
}

/** Every command invocation in the tree, with the parameters passed to it directly. */
export function commandUses(tree: Tree): CommandUse[] {
  const uses: CommandUse[] = [];
  for (const node of walk(tree.rootNode)) {
    if (node.type !== 'command') continue;
    const nameNode = node.childForFieldName('command_name');
    const elements = node.childForFieldName('command_elements');
    const parameters = (elements?.children ?? []).filter((c): c is Node => c?.type === 'command_parameter').map((c) => c.text.replace(/^-+/, '').replace(/:$/, ''));
    const dynamic = node.children.some((c) => c?.type === 'command_invokation_operator') || nameNode?.type !== 'command_name';
    uses.push({ name: dynamic ? null : (nameNode?.text ?? null), parameters, line: node.startPosition.row + 1, text: node.text.split('\n')[0]!.slice(0, 120) });
  }
  return uses;
}

/** The single-quoted string literals (verbatim strings) in the tree, as written. */
export function verbatimStrings(tree: Tree): string[] {
  return [...walk(tree.rootNode)].filter((n) => n.type === 'verbatim_string_characters').map((n) => n.text);
}

/** Names of functions the script defines (none of ours does; allowed if it ever does). */
export function definedFunctions(tree: Tree): string[] {
  return [...walk(tree.rootNode)].filter((n) => n.type === 'function_statement').map((n) => n.childForFieldName('function_name')?.text ?? n.children[1]?.text ?? '');
}
