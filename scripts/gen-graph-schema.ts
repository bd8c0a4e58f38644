/**
 * Generates src/sandbox/graph/schema/graph-v1.json: the slice of the Microsoft Graph v1.0 CSDL that the
 * Graph sandbox needs to validate request bodies for `event`, so that the sandbox answers a malformed body
 * with the 400 real Graph gives instead of silently storing it.
 *
 * Usage: npm run gen:graph-schema [-- path/to/v1.0-metadata.xml[.gz]]
 *        (default source: reference/graph/v1.0-metadata.xml.gz, the CSDL committed with its licence)
 *
 * The output is committed, so the sandbox needs no CSDL at run time; the test test/sandbox/graph-schema.test.ts
 * regenerates it in memory from the committed CSDL and fails when the committed output is stale.
 *
 * No XML parser is installed in node_modules, so this file carries a small pull tokenizer. CSDL uses plain
 * XML: elements, quoted attributes, a little text (<EnumMember>, <PropertyPath>), comments, no DTD. The
 * tokenizer handles exactly that and refuses anything else (unbalanced tags, unquoted attributes, unknown
 * entities) instead of guessing.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import type {
  GraphSchemaFile,
  SchemaEnumType,
  SchemaNavigationProperty,
  SchemaProperty,
  SchemaStructuredType,
} from '../src/sandbox/graph/schema/validate.ts';

/** Bump when the output format or the selection rules change, so a stale committed file is obvious. */
export const GENERATOR_VERSION = 2;

/**
 * Entity types whose bodies the sandbox validates: requests (event, subscription) and answers (every type it returns,
 * held to the CSDL by test/sandbox/responses.test.ts). Everything reachable from them is included.
 */
export const ROOT_ENTITY_TYPES = ['microsoft.graph.event', 'microsoft.graph.eventMessage', 'microsoft.graph.room', 'microsoft.graph.roomList', 'microsoft.graph.subscription'] as const;

/**
 * Entity types the sandbox only answers with, and never with a navigation property (the groups the resource agent
 * reads, their members: GET /groups, /groups/{id}/transitiveMembers/microsoft.graph.user). Their properties and
 * value types are included; their navigation properties are not — a user's contained mail folders, calendars, drive
 * and so on would make the slice ten times larger — so an answer carrying one fails as a property the type lacks.
 */
export const ANSWER_ROOT_ENTITY_TYPES = ['microsoft.graph.group', 'microsoft.graph.user'] as const;

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_METADATA_PATH = resolve(repoRoot, 'reference/graph/v1.0-metadata.xml.gz');
export const OUTPUT_PATH = resolve(repoRoot, 'src/sandbox/graph/schema/graph-v1.json');

// ---------------------------------------------------------------------------------------------------------
// XML: a pull tokenizer that builds a minimal element tree.
// ---------------------------------------------------------------------------------------------------------

interface XmlElement {
  /** Local name: the `edmx:` prefix is dropped, CSDL element names are unique without it. */
  readonly name: string;
  readonly attributes: ReadonlyMap<string, string>;
  readonly children: XmlElement[];
  text: string;
}

const XML_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeXmlText(raw: string, describeOffset: () => string): string {
  return raw.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (_match, entity: string) => {
    if (entity.startsWith('#x')) return String.fromCodePoint(Number.parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(Number.parseInt(entity.slice(1), 10));
    const decoded = XML_ENTITIES[entity];
    if (decoded === undefined) throw new Error(`unknown XML entity &${entity}; ${describeOffset()}`);
    return decoded;
  });
}

function parseXml(xml: string): XmlElement {
  const root: XmlElement = { name: '#document', attributes: new Map(), children: [], text: '' };
  const open: XmlElement[] = [root];
  let position = 0;

  const where = (offset: number) => () => `at line ${xml.slice(0, offset).split('\n').length}`;
  const fail = (message: string, offset: number): never => {
    throw new Error(`XML: ${message} ${where(offset)()}`);
  };
  const skipPast = (terminator: string, from: number): number => {
    const end = xml.indexOf(terminator, from);
    if (end < 0) fail(`missing '${terminator}'`, from);
    return end + terminator.length;
  };
  const isNameEnd = (char: string | undefined) =>
    char === undefined || char === '>' || char === '/' || char === '=' || /\s/.test(char);

  while (position < xml.length) {
    const tagStart = xml.indexOf('<', position);
    const textEnd = tagStart < 0 ? xml.length : tagStart;
    if (textEnd > position) {
      const current = open[open.length - 1]!;
      current.text += decodeXmlText(xml.slice(position, textEnd), where(position));
    }
    if (tagStart < 0) break;

    if (xml.startsWith('<!--', tagStart)) {
      position = skipPast('-->', tagStart);
    } else if (xml.startsWith('<?', tagStart)) {
      position = skipPast('?>', tagStart);
    } else if (xml.startsWith('<![CDATA[', tagStart)) {
      const end = skipPast(']]>', tagStart);
      open[open.length - 1]!.text += xml.slice(tagStart + 9, end - 3);
      position = end;
    } else if (xml.startsWith('<!', tagStart)) {
      fail('DTDs are not supported', tagStart);
    } else if (xml.startsWith('</', tagStart)) {
      const end = skipPast('>', tagStart);
      const name = localName(xml.slice(tagStart + 2, end - 1).trim());
      const closing = open.pop();
      if (closing === undefined || closing === root || closing.name !== name) {
        fail(`unexpected </${name}>`, tagStart);
      }
      position = end;
    } else {
      // Start tag: name, then attributes whose quoted values may legally contain '>' and '/'.
      let cursor = tagStart + 1;
      while (!isNameEnd(xml[cursor])) cursor++;
      const element: XmlElement = {
        name: localName(xml.slice(tagStart + 1, cursor)),
        attributes: new Map(),
        children: [],
        text: '',
      };
      if (element.name === '') fail('empty element name', tagStart);
      const attributes = element.attributes as Map<string, string>;
      let selfClosing = false;
      for (;;) {
        while (/\s/.test(xml[cursor] ?? '')) cursor++;
        const char = xml[cursor];
        if (char === undefined) fail('unterminated start tag', tagStart);
        if (char === '>') {
          cursor++;
          break;
        }
        if (char === '/' && xml[cursor + 1] === '>') {
          selfClosing = true;
          cursor += 2;
          break;
        }
        const nameStart = cursor;
        while (!isNameEnd(xml[cursor])) cursor++;
        const attributeName = xml.slice(nameStart, cursor);
        while (/\s/.test(xml[cursor] ?? '')) cursor++;
        if (attributeName === '' || xml[cursor] !== '=') fail(`malformed attribute in <${element.name}>`, cursor);
        cursor++;
        while (/\s/.test(xml[cursor] ?? '')) cursor++;
        const quote = xml[cursor];
        if (quote !== '"' && quote !== "'") fail(`unquoted attribute ${attributeName}`, cursor);
        const valueEnd = xml.indexOf(quote!, cursor + 1);
        if (valueEnd < 0) fail(`unterminated attribute ${attributeName}`, cursor);
        attributes.set(attributeName, decodeXmlText(xml.slice(cursor + 1, valueEnd), where(cursor)));
        cursor = valueEnd + 1;
      }
      open[open.length - 1]!.children.push(element);
      if (!selfClosing) open.push(element);
      position = cursor;
    }
  }
  if (open.length !== 1) fail(`<${open[open.length - 1]!.name}> is never closed`, xml.length);
  return root;
}

function localName(qualifiedName: string): string {
  const colon = qualifiedName.indexOf(':');
  return colon < 0 ? qualifiedName : qualifiedName.slice(colon + 1);
}

function childrenNamed(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((child) => child.name === name);
}

function requireAttribute(element: XmlElement, name: string): string {
  const value = element.attributes.get(name);
  if (value === undefined) throw new Error(`CSDL: <${element.name}> lacks ${name}`);
  return value;
}

// ---------------------------------------------------------------------------------------------------------
// CSDL: the model as declared, before selection.
// ---------------------------------------------------------------------------------------------------------

interface DeclaredMember {
  readonly name: string;
  readonly typeName: string;
  readonly isCollection: boolean;
  readonly nullable: boolean;
  /** Annotations written inside the element plus those from <Annotations Target="type/member">. */
  readonly annotations: XmlElement[];
}

interface DeclaredStructuredType {
  readonly qualifiedName: string;
  readonly kind: 'entity' | 'complex';
  readonly baseTypeName: string | undefined;
  readonly isAbstract: boolean;
  readonly isOpen: boolean;
  readonly properties: DeclaredMember[];
  readonly navigationProperties: (DeclaredMember & { readonly containsTarget: boolean })[];
}

interface DeclaredModel {
  readonly structuredTypes: Map<string, DeclaredStructuredType>;
  readonly enumTypes: Map<string, SchemaEnumType>;
}

function readModel(document: XmlElement): DeclaredModel {
  const edmx = document.children.find((child) => child.name === 'Edmx');
  const dataServices = edmx && childrenNamed(edmx, 'DataServices')[0];
  if (!dataServices) throw new Error('CSDL: no <edmx:Edmx>/<edmx:DataServices>');
  const schemas = childrenNamed(dataServices, 'Schema');

  // Aliases are document-wide in CSDL ("graph.event" and "microsoft.graph.event" name the same type).
  const namespaceByAlias = new Map<string, string>();
  for (const schema of schemas) {
    const alias = schema.attributes.get('Alias');
    if (alias !== undefined) namespaceByAlias.set(alias, requireAttribute(schema, 'Namespace'));
  }
  const qualify = (name: string): string => {
    if (name.startsWith('Edm.')) return name;
    const dot = name.lastIndexOf('.');
    const prefix = name.slice(0, dot);
    const namespace = namespaceByAlias.get(prefix);
    return namespace === undefined ? name : `${namespace}.${name.slice(dot + 1)}`;
  };
  const qualifyTarget = (target: string): string => {
    const slash = target.indexOf('/');
    return slash < 0 ? qualify(target) : `${qualify(target.slice(0, slash))}${target.slice(slash)}`;
  };

  const outOfLineAnnotations = new Map<string, XmlElement[]>();
  for (const schema of schemas) {
    for (const annotations of childrenNamed(schema, 'Annotations')) {
      const target = qualifyTarget(requireAttribute(annotations, 'Target'));
      const list = outOfLineAnnotations.get(target) ?? [];
      list.push(...childrenNamed(annotations, 'Annotation'));
      outOfLineAnnotations.set(target, list);
    }
  }

  const structuredTypes = new Map<string, DeclaredStructuredType>();
  const enumTypes = new Map<string, SchemaEnumType>();
  for (const schema of schemas) {
    const namespace = requireAttribute(schema, 'Namespace');
    for (const element of schema.children) {
      if (element.name === 'EnumType') {
        const qualifiedName = `${namespace}.${requireAttribute(element, 'Name')}`;
        const members = childrenNamed(element, 'Member').map((member) => requireAttribute(member, 'Name'));
        enumTypes.set(
          qualifiedName,
          element.attributes.get('IsFlags') === 'true' ? { members, isFlags: true } : { members },
        );
      } else if (element.name === 'EntityType' || element.name === 'ComplexType') {
        const qualifiedName = `${namespace}.${requireAttribute(element, 'Name')}`;
        const readMember = (memberElement: XmlElement): DeclaredMember => {
          const name = requireAttribute(memberElement, 'Name');
          const declaredType = requireAttribute(memberElement, 'Type');
          const collectionMatch = /^Collection\((.+)\)$/.exec(declaredType);
          return {
            name,
            typeName: qualify(collectionMatch ? collectionMatch[1]! : declaredType),
            isCollection: collectionMatch !== null,
            // CSDL default: Nullable="true" unless stated otherwise.
            nullable: memberElement.attributes.get('Nullable') !== 'false',
            annotations: [
              ...childrenNamed(memberElement, 'Annotation'),
              ...(outOfLineAnnotations.get(`${qualifiedName}/${name}`) ?? []),
            ],
          };
        };
        const baseType = element.attributes.get('BaseType');
        structuredTypes.set(qualifiedName, {
          qualifiedName,
          kind: element.name === 'EntityType' ? 'entity' : 'complex',
          baseTypeName: baseType === undefined ? undefined : qualify(baseType),
          isAbstract: element.attributes.get('Abstract') === 'true',
          isOpen: element.attributes.get('OpenType') === 'true',
          properties: childrenNamed(element, 'Property').map(readMember),
          navigationProperties: childrenNamed(element, 'NavigationProperty').map((navigation) => ({
            ...readMember(navigation),
            containsTarget: navigation.attributes.get('ContainsTarget') === 'true',
          })),
        });
      }
    }
  }
  return { structuredTypes, enumTypes };
}

// ---------------------------------------------------------------------------------------------------------
// Annotation terms that matter for request bodies.
// ---------------------------------------------------------------------------------------------------------

function findAnnotation(annotations: readonly XmlElement[], term: string): XmlElement | undefined {
  return annotations.find((annotation) => annotation.attributes.get('Term') === term);
}

/** A Bool-valued term applies when present without Bool="false" (the CSDL default for Core tag terms). */
function isTagTermSet(annotations: readonly XmlElement[], term: string): boolean {
  const annotation = findAnnotation(annotations, term);
  return annotation !== undefined && annotation.attributes.get('Bool') !== 'false';
}

/** Org.OData.Core.V1.Permissions = Read (without Write) marks a property clients cannot set. */
function hasReadOnlyPermission(annotations: readonly XmlElement[]): boolean {
  const annotation = findAnnotation(annotations, 'Org.OData.Core.V1.Permissions');
  if (annotation === undefined) return false;
  const permissions = [
    annotation.attributes.get('EnumMember') ?? '',
    ...childrenNamed(annotation, 'EnumMember').map((member) => member.text),
  ].join(' ');
  return /Permission\/Read\b/.test(permissions) && !/Permission\/(Write|ReadWrite)\b/.test(permissions);
}

/** Capabilities.V1.InsertRestrictions { Insertable: false } on a navigation property forbids deep insert. */
function isInsertForbidden(annotations: readonly XmlElement[]): boolean {
  const annotation = findAnnotation(annotations, 'Org.OData.Capabilities.V1.InsertRestrictions');
  if (annotation === undefined) return false;
  return childrenNamed(annotation, 'Record').some((record) =>
    childrenNamed(record, 'PropertyValue').some(
      (value) => value.attributes.get('Property') === 'Insertable' && value.attributes.get('Bool') === 'false',
    ),
  );
}

// ---------------------------------------------------------------------------------------------------------
// Selection: everything a request body for a root type can contain.
// ---------------------------------------------------------------------------------------------------------

function ancestorsOf(model: DeclaredModel, type: DeclaredStructuredType): DeclaredStructuredType[] {
  const chain: DeclaredStructuredType[] = [];
  for (let baseName = type.baseTypeName; baseName !== undefined; ) {
    const base = model.structuredTypes.get(baseName);
    if (!base) throw new Error(`CSDL: base type ${baseName} of ${type.qualifiedName} is not declared`);
    if (chain.includes(base)) throw new Error(`CSDL: cyclic base types at ${type.qualifiedName}`);
    chain.push(base);
    baseName = base.baseTypeName;
  }
  return chain;
}

/**
 * A navigation property may carry inline content in a request body ("deep insert") only when the target
 * is contained in the parent (ContainsTarget) and not marked Insertable=false: that is how Graph documents
 * singleValueExtendedProperties / multiValueExtendedProperties / extensions / attachments in a POST, and
 * why instances, exceptionOccurrences (Insertable=false) and calendar (not contained) are excluded.
 */
function allowsDeepInsert(navigation: DeclaredStructuredType['navigationProperties'][number]): boolean {
  return navigation.containsTarget && !isInsertForbidden(navigation.annotations);
}

function toSchemaProperty(member: DeclaredMember): SchemaProperty {
  const property: { -readonly [K in keyof SchemaProperty]: SchemaProperty[K] } = { type: member.typeName };
  if (member.isCollection) property.collection = true;
  if (!member.nullable) property.nullable = false;
  if (isTagTermSet(member.annotations, 'Org.OData.Core.V1.Computed') || hasReadOnlyPermission(member.annotations)) {
    property.computed = true;
  }
  if (isTagTermSet(member.annotations, 'Org.OData.Core.V1.Immutable')) property.immutable = true;
  return property;
}

function selectSchema(model: DeclaredModel, roots: readonly string[], answerRoots: readonly string[]) {
  const directlyDerived = new Map<string, DeclaredStructuredType[]>();
  for (const type of model.structuredTypes.values()) {
    if (type.baseTypeName === undefined) continue;
    const list = directlyDerived.get(type.baseTypeName) ?? [];
    list.push(type);
    directlyDerived.set(type.baseTypeName, list);
  }

  const selectedTypes = new Map<string, SchemaStructuredType>();
  const selectedEnums = new Map<string, SchemaEnumType>();
  const pending: string[] = [];

  // A value declared as type T may be sent as any type derived from T (named with @odata.type), so a
  // declared type brings its whole derivation subtree. Base types are flattened into each selected type
  // instead: `entity` (the base of nearly everything) must not drag in the whole model.
  const enqueueWithDerivedTypes = (typeName: string) => {
    pending.push(typeName);
    for (const derived of directlyDerived.get(typeName) ?? []) enqueueWithDerivedTypes(derived.qualifiedName);
  };
  const enqueueValueType = (typeName: string) => {
    if (typeName.startsWith('Edm.')) return;
    const enumType = model.enumTypes.get(typeName);
    if (enumType) {
      selectedEnums.set(typeName, enumType);
    } else if (model.structuredTypes.has(typeName)) {
      enqueueWithDerivedTypes(typeName);
    } else {
      throw new Error(`CSDL: type ${typeName} is referenced but not declared`);
    }
  };

  // First the request roots with everything their bodies can reach; then the answer roots and their value types
  // without navigation properties (a type already selected keeps its navigation).
  const select = (from: readonly string[], withNavigation: boolean) => {
    for (const root of from) {
      if (!model.structuredTypes.has(root)) throw new Error(`CSDL: root type ${root} is not declared`);
      enqueueWithDerivedTypes(root);
    }
    for (let typeName = pending.pop(); typeName !== undefined; typeName = pending.pop()) selectType(typeName, withNavigation);
  };
  const selectType = (typeName: string, withNavigation: boolean) => {
    if (selectedTypes.has(typeName)) return;
    const type = model.structuredTypes.get(typeName)!;
    const ancestors = ancestorsOf(model, type);
    const declaringChain = [...ancestors].reverse().concat(type); // base first, so derived declarations win

    const properties: Record<string, SchemaProperty> = {};
    const navigation: Record<string, SchemaNavigationProperty> = {};
    for (const declaring of declaringChain) {
      for (const member of declaring.properties) {
        properties[member.name] = toSchemaProperty(member);
        enqueueValueType(member.typeName);
      }
      for (const member of withNavigation ? declaring.navigationProperties : []) {
        const deepInsert = allowsDeepInsert(member);
        const entry: { -readonly [K in keyof SchemaNavigationProperty]: SchemaNavigationProperty[K] } = {
          type: member.typeName,
          deepInsert,
        };
        if (member.isCollection) entry.collection = true;
        if (!member.nullable) entry.nullable = false;
        navigation[member.name] = entry;
        if (deepInsert) enqueueValueType(member.typeName);
      }
    }

    const selected: { -readonly [K in keyof SchemaStructuredType]: SchemaStructuredType[K] } = {
      kind: type.kind,
      properties,
    };
    if (type.isAbstract) selected.abstract = true;
    // Open-ness is inherited: a type derived from an open type is open.
    if (declaringChain.some((declaring) => declaring.isOpen)) selected.open = true;
    if (ancestors.length > 0) selected.ancestors = ancestors.map((ancestor) => ancestor.qualifiedName);
    if (Object.keys(navigation).length > 0) selected.navigation = navigation;
    selectedTypes.set(typeName, selected);
  };
  select(roots, true);
  select(answerRoots, false);
  return { types: selectedTypes, enums: selectedEnums };
}

// ---------------------------------------------------------------------------------------------------------
// Output: sorted keys, one schema member per line.
// ---------------------------------------------------------------------------------------------------------

function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (value !== null && typeof value === 'object') {
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) sorted[key] = sortKeysDeep((value as Record<string, unknown>)[key]);
    return sorted;
  }
  return value;
}

/**
 * Objects down to `expandDepth` get one key per line; anything deeper is written on one line. With depth 3
 * each property, navigation property and enum of the schema sits on its own line: small, and diffs read well.
 */
function formatJson(value: unknown, expandDepth: number, depth = 0): string {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || depth > expandDepth) {
    return JSON.stringify(value);
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return '{}';
  const indent = ' '.repeat(depth + 1);
  const lines = entries.map(([key, entry]) => `${indent}${JSON.stringify(key)}: ${formatJson(entry, expandDepth, depth + 1)}`);
  return `{\n${lines.join(',\n')}\n${' '.repeat(depth)}}`;
}

/**
 * Builds the schema from CSDL bytes. Pure and deterministic: the same bytes give the same text, which is
 * what the staleness test compares. `sourceName` goes into the header (a file name, never a machine path).
 */
export function generateGraphSchema(
  metadataBytes: Uint8Array,
  sourceName = 'v1.0-metadata.xml',
  roots: readonly string[] = ROOT_ENTITY_TYPES,
  answerRoots: readonly string[] = roots === ROOT_ENTITY_TYPES ? ANSWER_ROOT_ENTITY_TYPES : [],
): string {
  const sha256 = createHash('sha256').update(metadataBytes).digest('hex');
  const xml = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(metadataBytes);
  const model = readModel(parseXml(xml));
  const { types, enums } = selectSchema(model, roots, answerRoots);

  const file: GraphSchemaFile = {
    header: {
      generator: 'scripts/gen-graph-schema.ts',
      generatorVersion: GENERATOR_VERSION,
      source: sourceName,
      sha256,
      roots: [...roots],
      ...(answerRoots.length ? { answerRoots: [...answerRoots] } : {}),
    },
    types: Object.fromEntries(types),
    enums: Object.fromEntries(enums),
  };
  return `${formatJson(sortKeysDeep(file), 3)}\n`;
}

/** The CSDL's bytes, uncompressed when the file is gzip (the committed copy is: 3.5 MB → 0.34 MB). */
export function readMetadata(path: string): Uint8Array {
  const bytes = readFileSync(path);
  return path.endsWith('.gz') ? gunzipSync(bytes) : bytes;
}

function main(): void {
  const sourcePath = resolve(process.argv[2] ?? DEFAULT_METADATA_PATH);
  let metadata: Uint8Array;
  try {
    metadata = readMetadata(sourcePath);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    console.error(`gen:graph-schema: cannot read ${sourcePath} (${reason}); pass the Graph v1.0 CSDL (.xml or .xml.gz) as the argument`);
    process.exit(1);
  }
  let output: string;
  try {
    output = generateGraphSchema(metadata, basename(sourcePath).replace(/\.gz$/, ''));
  } catch (error) {
    console.error(`gen:graph-schema: ${sourcePath} is not usable Graph CSDL: ${(error as Error).message}`);
    process.exit(1);
  }
  writeFileSync(OUTPUT_PATH, output);
  const parsed = JSON.parse(output) as GraphSchemaFile;
  console.log(
    `wrote ${OUTPUT_PATH}: ${Object.keys(parsed.types).length} types, ${Object.keys(parsed.enums).length} enums, ` +
      `${output.length} bytes (source ${sourcePath}, sha256 ${parsed.header.sha256})`,
  );
}

if (import.meta.main) main();
