/**
 * The Microsoft Graph v1.0 request-body check of the Graph sandbox.
 *
 * Real Graph reads every POST/PATCH body against its OData model before anything is stored, and answers a
 * body that does not fit with a 400. The sandbox applies the same check so a client bug (a misspelt
 * property, an enum value Graph does not know, a string where a number belongs...) fails in tests exactly
 * as it would against Microsoft 365, instead of being stored and echoed back.
 *
 * The model is graph-v1.json, generated from Microsoft's published CSDL by scripts/gen-graph-schema.ts.
 *
 * Where the error texts come from. Calendar resources are served by Exchange's OData stack (ODataLib), so
 * the texts are ODataLib's resource strings, as in
 * https://github.com/OData/odata.net/blob/main/src/Microsoft.OData.Core/Microsoft.OData.Core.txt
 * Each rule below cites the Graph answer it reproduces. Where no source showed the exact Graph answer the
 * comment says so ("not documented").
 */
import { readFileSync } from 'node:fs';

// ---------------------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------------------

export interface GraphBodyError {
  status: 400;
  code: string;
  message: string;
}

/**
 * Validates a JSON request body for the given entity type ("event" or "microsoft.graph.event").
 * mode "create" = POST, "update" = PATCH, "response" = an entity the sandbox answers with (held to the same model
 * by test/sandbox/responses.test.ts: only declared properties, of their declared types). Returns null when valid.
 *
 * Microsoft documents one body grammar for both modes (https://learn.microsoft.com/graph/api/user-post-events
 * and https://learn.microsoft.com/graph/api/event-update both take a JSON event), so every rule applies to
 * both; "response" differs in one point: expanded navigation properties ($expand) are allowed inline.
 *
 * Never throws for any body; throws only when `entityType` is not in the schema (a programming error).
 */
export function validateGraphBody(
  entityType: string,
  body: unknown,
  mode: 'create' | 'update' | 'response',
): GraphBodyError | null {
  const rootType = compiledSchema().typeFor(entityType);
  if (rootType === undefined) {
    throw new Error(`validateGraphBody: no schema for entity type '${entityType}' (regenerate graph-v1.json?)`);
  }
  // Graph answers a POST/PATCH without a body with 400 BadRequest "Empty Payload. JSON content expected."
  // (seen in https://github.com/microsoftgraph/microsoft-graph-explorer-v4/issues/3819).
  if (body === undefined) {
    return { status: 400, code: 'BadRequest', message: 'Empty Payload. JSON content expected.' };
  }
  try {
    if (!isJsonObject(body)) throw rejectUnexpectedNode(nodeKindOf(body), 'StartObject');
    validateResource(body, rootType, 0, mode === 'response');
    return null;
  } catch (error) {
    if (error instanceof Rejection) return error.graphError;
    throw error;
  }
}

/** Which schema the sandbox runs on, for diagnostics (e.g. a /$sandbox/info endpoint or a startup log line). */
export function graphSchemaInfo(): { source: string; sha256: string; types: number; enums: number } {
  const { file } = compiledSchema();
  return {
    source: file.header.source,
    sha256: file.header.sha256,
    types: Object.keys(file.types).length,
    enums: Object.keys(file.enums).length,
  };
}

// ---------------------------------------------------------------------------------------------------------
// The format of graph-v1.json (written by scripts/gen-graph-schema.ts).
// Omitted flags take their CSDL defaults: not a collection, nullable, not computed.
// ---------------------------------------------------------------------------------------------------------

export interface SchemaProperty {
  /** 'Edm.String' ... or a qualified enum / complex type name; for collections, the item type. */
  readonly type: string;
  readonly collection?: true;
  /** For a collection: whether its items may be null (CSDL puts Nullable on the property). */
  readonly nullable?: false;
  /** Org.OData.Core.V1.Computed or Permissions=Read in the CSDL. */
  readonly computed?: true;
  /** Org.OData.Core.V1.Immutable in the CSDL. */
  readonly immutable?: true;
}

export interface SchemaNavigationProperty {
  readonly type: string;
  /** Contained and not Insertable=false: inline content allowed in a request body. */
  readonly deepInsert: boolean;
  readonly collection?: true;
  readonly nullable?: false;
}

export interface SchemaStructuredType {
  readonly kind: 'entity' | 'complex';
  readonly abstract?: true;
  readonly open?: true;
  /** Base type chain, nearest first. Properties of the bases are already flattened into `properties`. */
  readonly ancestors?: readonly string[];
  readonly properties: Readonly<Record<string, SchemaProperty>>;
  readonly navigation?: Readonly<Record<string, SchemaNavigationProperty>>;
}

export interface SchemaEnumType {
  readonly members: readonly string[];
  readonly isFlags?: true;
}

export interface GraphSchemaFile {
  readonly header: {
    readonly generator: string;
    readonly generatorVersion: number;
    /** File name of the CSDL it was generated from. */
    readonly source: string;
    /** sha256 of that file's bytes. */
    readonly sha256: string;
    readonly roots: readonly string[];
    /** Types held to the schema in answers only, without their navigation properties (scripts/gen-graph-schema.ts). */
    readonly answerRoots?: readonly string[];
  };
  readonly types: Readonly<Record<string, SchemaStructuredType>>;
  readonly enums: Readonly<Record<string, SchemaEnumType>>;
}

// ---------------------------------------------------------------------------------------------------------
// Loading: once, into Maps, so that a body property called "constructor" or "__proto__" can never resolve
// to something inherited from Object.prototype.
// ---------------------------------------------------------------------------------------------------------

interface CompiledType {
  readonly name: string;
  readonly kind: 'entity' | 'complex';
  readonly isAbstract: boolean;
  readonly isOpen: boolean;
  /** The type itself and its ancestors: what a value declared as one of these may be sent as. */
  readonly assignableTo: ReadonlySet<string>;
  readonly properties: ReadonlyMap<string, SchemaProperty>;
  readonly navigation: ReadonlyMap<string, SchemaNavigationProperty>;
}

interface CompiledEnum {
  readonly name: string;
  readonly isFlags: boolean;
  /** Lower-cased member names: Graph matches enum members case-insensitively (see validateEnumValue). */
  readonly lowerCaseMembers: ReadonlySet<string>;
}

interface CompiledSchema {
  readonly file: GraphSchemaFile;
  readonly types: ReadonlyMap<string, CompiledType>;
  readonly enums: ReadonlyMap<string, CompiledEnum>;
  typeFor(entityType: string): CompiledType | undefined;
}

const DEFAULT_NAMESPACE = 'microsoft.graph';

let loadedSchema: CompiledSchema | undefined;

function compiledSchema(): CompiledSchema {
  if (loadedSchema) return loadedSchema;
  const file = JSON.parse(readFileSync(new URL('./graph-v1.json', import.meta.url), 'utf8')) as GraphSchemaFile;
  const types = new Map<string, CompiledType>();
  for (const [name, type] of Object.entries(file.types)) {
    types.set(name, {
      name,
      kind: type.kind,
      isAbstract: type.abstract === true,
      isOpen: type.open === true && !CLOSED_DESPITE_CSDL.has(name),
      assignableTo: new Set([name, ...(type.ancestors ?? [])]),
      properties: new Map(Object.entries(type.properties)),
      navigation: new Map(Object.entries(type.navigation ?? {})),
    });
  }
  const enums = new Map<string, CompiledEnum>();
  for (const [name, enumType] of Object.entries(file.enums)) {
    enums.set(name, {
      name,
      isFlags: enumType.isFlags === true,
      lowerCaseMembers: new Set(enumType.members.map((member) => member.toLowerCase())),
    });
  }
  loadedSchema = {
    file,
    types,
    enums,
    typeFor: (entityType) => types.get(entityType.includes('.') ? entityType : `${DEFAULT_NAMESPACE}.${entityType}`),
  };
  return loadedSchema;
}

/**
 * The CSDL marks `event` OpenType="true", but Graph does not accept undeclared properties on it: POSTing
 * { "event": {...} } to /users/{id}/events answers "The property 'event' does not exist on type
 * 'Microsoft.OutlookServices.Event'" (https://github.com/microsoftgraph/msgraph-sdk-javascript/issues/212).
 * The Outlook backend validates against its own, closed, model. openTypeExtension stays open: custom
 * properties are its purpose (https://learn.microsoft.com/graph/api/resources/opentypeextension).
 */
const CLOSED_DESPITE_CSDL: ReadonlySet<string> = new Set(['microsoft.graph.event']);

// ---------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------

/** Thrown inside the walk and turned into the return value: the first problem found is the answer. */
class Rejection extends Error {
  readonly graphError: GraphBodyError;
  constructor(code: string, message: string) {
    super(message);
    this.graphError = { status: 400, code, message };
  }
}

/** ODataLib failures while reading the body surface as code RequestBodyRead (all examples cited below). */
const REQUEST_BODY_READ = 'RequestBodyRead';

/**
 * How a type is named in error messages. Calendar items are served by Exchange, and Exchange reports its own
 * model's names, e.g. "The property 'name' does not exist on type 'Microsoft.OutlookServices.EmailAddress'"
 * (https://github.com/microsoftgraph/microsoft-graph-docs/issues/4478) and "... on type
 * 'Microsoft.OutlookServices.Event'" (https://github.com/microsoftgraph/msgraph-sdk-javascript/issues/212).
 * Those names are the Graph names in PascalCase under Microsoft.OutlookServices; Edm primitives keep theirs.
 */
function typeNameInMessages(qualifiedName: string): string {
  if (qualifiedName.startsWith('Edm.')) return qualifiedName;
  const simpleName = qualifiedName.slice(qualifiedName.lastIndexOf('.') + 1);
  return `Microsoft.OutlookServices.${simpleName.charAt(0).toUpperCase()}${simpleName.slice(1)}`;
}

/** The JSON reader's node names, as ODataLib prints them. */
type JsonNodeKind = 'StartObject' | 'StartArray' | 'PrimitiveValue';

function nodeKindOf(value: unknown): JsonNodeKind {
  if (Array.isArray(value)) return 'StartArray';
  return value !== null && typeof value === 'object' ? 'StartObject' : 'PrimitiveValue';
}

/**
 * A value of the wrong JSON shape (object for a string, string for a collection...). Outlook answers with
 * ODataLib's JsonReaderExtensions_UnexpectedNodeDetectedWithPropertyName, e.g. code RequestBodyRead,
 * "An unexpected 'StartObject' node was found for property named 'ToRecipients' when reading from the JSON
 * reader. A 'StartArray' node was expected." (an Outlook REST client's recorded error, GitHub code search).
 * For the top-level body there is no property name and ODataLib drops that clause.
 */
function rejectUnexpectedNode(found: JsonNodeKind, expected: JsonNodeKind, propertyName?: string): Rejection {
  return new Rejection(
    REQUEST_BODY_READ,
    propertyName === undefined
      ? `An unexpected '${found}' node was found when reading from the JSON reader. A '${expected}' node was expected.`
      : `An unexpected '${found}' node was found for property named '${propertyName}' when reading from the JSON reader. A '${expected}' node was expected.`,
  );
}

/**
 * ReaderValidationUtils_CannotConvertPrimitiveValue. Graph documents it for user-update-mailboxsettings
 * (https://learn.microsoft.com/graph/api/user-update-mailboxsettings, Errors: 400 RequestBodyRead
 * "Cannot convert the literal '08' to the expected type 'Edm.TimeOfDay'.").
 */
function rejectLiteral(value: unknown, edmType: string): Rejection {
  return new Rejection(REQUEST_BODY_READ, `Cannot convert the literal '${dotNetLiteral(value)}' to the expected type '${edmType}'.`);
}

/** ODataLib prints the .NET value it read: JSON true is the .NET bool True. */
function dotNetLiteral(value: unknown): string {
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return String(value);
}

// ---------------------------------------------------------------------------------------------------------
// The walk
// ---------------------------------------------------------------------------------------------------------

type JsonObject = Record<string, unknown>;

function isJsonObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * ODataLib stops reading at 100 nested levels (ODataMessageQuotas.MaxNestingDepth default) with
 * ValidationUtils_RecursionDepthLimitReached. Graph's own quota is not documented. Today's schema has no
 * recursive path (itemAttachment.item is not insertable), so this only matters if a regenerated one has.
 */
const MAX_NESTING_DEPTH = 100;

function validateResource(resource: JsonObject, declaredType: CompiledType, depth: number, answer = false): void {
  if (depth > MAX_NESTING_DEPTH) {
    throw new Rejection(
      REQUEST_BODY_READ,
      `The maximum recursion depth limit was reached. The depth of nested values in a single property cannot exceed ${MAX_NESTING_DEPTH}.`,
    );
  }
  const type = resolveTypeAnnotation(resource, declaredType);

  for (const key of Object.keys(resource)) {
    const value = resource[key];
    // Annotations are not data. "@odata.type" is resolved above; the other instance annotations
    // ("@odata.context", "@odata.etag", "@microsoft.graph.*"...) and property annotations ("name@odata.type",
    // "calendar@odata.bind") are ignored, as OData JSON readers do for annotations they do not act on
    // (https://docs.oasis-open.org/odata/odata-json-format/v4.01/odata-json-format-v4.01.html#sec_InstanceAnnotations).
    if (key.includes('@')) continue;
    // A key holding `undefined` cannot come out of JSON.parse; treat it as absent.
    if (value === undefined) continue;

    // Property names are matched case-sensitively: ODataLib looks properties up by exact name, and the
    // Outlook model rejects wrong casing outright ("The property 'name' does not exist on type
    // 'Microsoft.OutlookServices.EmailAddress'" while its property was 'Name': microsoft-graph-docs#4478).
    const property = type.properties.get(key);
    if (property !== undefined) {
      // Read-only properties (id, changeKey, createdDateTime, lastModifiedDateTime, iCalUId, webLink, type,
      // seriesMasterId, isOrganizer, hasAttachments, bodyPreview... listed as read-only or server-set on
      // https://learn.microsoft.com/graph/api/resources/event) are NOT rejected: Graph's reader still parses
      // them against their type, then ignores them. Evidence, both Stack Overflow questions: in "Microsoft
      // Graph API creating recurring event returns 500" a POST carrying "type": "singleInstance" answers
      // 201 Created; in "Can't create a all-day repeated via Graph API" a POST replaying a whole GET response
      // (id, changeKey, iCalUId, webLink, isOrganizer...) fails only with TimeZoneNotSupportedException.
      // https://learn.microsoft.com/graph/api/event-update lists what PATCH can change; Microsoft documents
      // no error for the rest, so they are ignored there too. (The CSDL marks none of event's properties
      // Computed or Permissions=Read; the generator records those flags for types where it does.)
      validatePropertyValue(value, property, key, depth + 1);
      continue;
    }
    const navigation = type.navigation.get(key);
    if (navigation !== undefined) {
      validateNavigationContent(value, navigation, key, type, depth + 1, answer);
      continue;
    }
    // Undeclared properties are allowed only on open types (openTypeExtension: its custom data is exactly
    // that). Their values are untyped, so any JSON is accepted.
    if (type.isOpen) continue;
    // ValidationUtils_PropertyDoesNotExistOnType, e.g. "The property 'event' does not exist on type
    // 'Microsoft.OutlookServices.Event'. Make sure to only use property names that are defined by the type
    // or mark the type as open type." (msgraph-sdk-javascript#212, microsoft-graph-docs#4478).
    throw new Rejection(
      REQUEST_BODY_READ,
      `The property '${key}' does not exist on type '${typeNameInMessages(type.name)}'. Make sure to only use property names that are defined by the type or mark the type as open type.`,
    );
  }

  validateExtendedPropertyResource(resource, type);
}

/**
 * A resource may name its type with "@odata.type" ("#microsoft.graph.fileAttachment" or without '#', both
 * used in Graph's docs): it must name the declared type or a type derived from it, and it selects which
 * properties are allowed. The messages are ODataLib's (ValidationUtils_UnrecognizedTypeName,
 * ValidationUtils_ResourceTypeNotAssignableToExpectedType, ODataJsonLightReaderUtils_AnnotationWithNullValue,
 * ODataJsonLightPropertyAndValueDeserializer_InvalidTypeName).
 */
function resolveTypeAnnotation(resource: JsonObject, declaredType: CompiledType): CompiledType {
  let type = declaredType;
  if (Object.hasOwn(resource, '@odata.type')) {
    const annotation = resource['@odata.type'];
    if (annotation === null) {
      throw new Rejection(
        REQUEST_BODY_READ,
        "The 'odata.type' instance or property annotation has a null value. In OData, the 'odata.type' instance or property annotation must have a non-null string value.",
      );
    }
    if (typeof annotation === 'object') throw rejectUnexpectedNode(nodeKindOf(annotation), 'PrimitiveValue', '@odata.type');
    if (typeof annotation !== 'string') {
      // JsonReaderExtensions_CannotReadValueAsString.
      throw new Rejection(
        REQUEST_BODY_READ,
        `Cannot read the value '${dotNetLiteral(annotation)}' as a quoted JSON string value.`,
      );
    }
    const typeName = annotation.startsWith('#') ? annotation.slice(1) : annotation;
    if (typeName === '') {
      throw new Rejection(
        REQUEST_BODY_READ,
        `The 'odata.type' instance annotation value '${annotation}' is not a valid type name. The value of the 'odata.type' instance annotation must be a non-empty string.`,
      );
    }
    const named = compiledSchema().types.get(typeName);
    // The schema holds every type derived from every declared type, so a name it does not hold can never be
    // assignable here; for such names the "could not be resolved" text is the likelier Graph answer (a typo).
    if (named === undefined) {
      throw new Rejection(
        REQUEST_BODY_READ,
        `A type named '${typeName}' could not be resolved by the model. When a model is available, each type name must resolve to a valid type.`,
      );
    }
    if (!named.assignableTo.has(declaredType.name)) {
      throw new Rejection(
        REQUEST_BODY_READ,
        `A resource with type '${typeNameInMessages(named.name)}' was found, but it is not assignable to the expected type '${typeNameInMessages(declaredType.name)}'. The type specified in the resource must be equal to either the expected type or a derived type.`,
      );
    }
    type = named;
  }
  // attachments and extensions are declared with abstract types: the body must say which concrete kind it
  // creates ("@odata.type": "#microsoft.graph.fileAttachment" / "microsoft.graph.openTypeExtension", as in
  // https://learn.microsoft.com/graph/api/event-post-attachments and
  // https://learn.microsoft.com/graph/api/opentypeextension-post-opentypeextension). Graph's answer without
  // it is not documented; this text is the sandbox's own.
  if (type.isAbstract) {
    throw new Rejection(
      REQUEST_BODY_READ,
      `Cannot create an instance of an abstract resource type '${typeNameInMessages(type.name)}'.`,
    );
  }
  return type;
}

function validatePropertyValue(value: unknown, property: SchemaProperty, propertyName: string, depth: number): void {
  const itemsNullable = property.nullable !== false;
  if (property.collection === true) {
    // A collection itself can never be null, whatever its items' nullability:
    // ReaderValidationUtils_NullNamedValueForNullableType.
    if (value === null) {
      throw new Rejection(
        REQUEST_BODY_READ,
        `A null value was found for the property named '${propertyName}', which has the expected type 'Collection(${typeNameInMessages(property.type)})[Nullable=True]'. The expected type 'Collection(${typeNameInMessages(property.type)})[Nullable=True]' cannot be null but it can have null values.`,
      );
    }
    if (!Array.isArray(value)) throw rejectUnexpectedNode(nodeKindOf(value), 'StartArray', propertyName);
    for (const item of value) {
      if (item === null) {
        if (itemsNullable) continue;
        // ValidationUtils_NullCollectionItemForNonNullableType (e.g. cancelledOccurrences: [null]).
        throw new Rejection(
          REQUEST_BODY_READ,
          `A null value was found in a collection, but the expected collection item type '${typeNameInMessages(property.type)}' does not allow null values.`,
        );
      }
      validateSingleValue(item, property.type, propertyName, depth);
    }
    return;
  }
  if (value === null) {
    if (itemsNullable) return;
    // ReaderValidationUtils_NullNamedValueForNonNullableType, e.g. dateTimeTimeZone.dateTime or
    // recurrencePattern.interval (Nullable="false" in the CSDL) sent as null.
    const typeName = typeNameInMessages(property.type);
    throw new Rejection(
      REQUEST_BODY_READ,
      `A null value was found for the property named '${propertyName}', which has the expected type '${typeName}[Nullable=False]'. The expected type '${typeName}[Nullable=False]' does not allow null values.`,
    );
  }
  validateSingleValue(value, property.type, propertyName, depth);
}

function validateSingleValue(value: unknown, typeName: string, propertyName: string, depth: number): void {
  if (typeName.startsWith('Edm.')) {
    if (typeof value === 'object' && value !== null) {
      throw rejectUnexpectedNode(nodeKindOf(value), 'PrimitiveValue', propertyName);
    }
    validatePrimitiveValue(value, typeName);
    return;
  }
  const schema = compiledSchema();
  const enumType = schema.enums.get(typeName);
  if (enumType !== undefined) {
    if (typeof value === 'object' && value !== null) {
      throw rejectUnexpectedNode(nodeKindOf(value), 'PrimitiveValue', propertyName);
    }
    validateEnumValue(value, enumType, propertyName);
    return;
  }
  const structuredType = schema.types.get(typeName);
  if (structuredType === undefined) {
    throw new Error(`graph-v1.json: property '${propertyName}' has type ${typeName}, which the schema lacks`);
  }
  if (!isJsonObject(value)) throw rejectUnexpectedNode(nodeKindOf(value), 'StartObject', propertyName);
  validateResource(value, structuredType, depth);
}

/**
 * Inline content for a navigation property ("deep insert"). Graph documents it for
 * singleValueExtendedProperties / multiValueExtendedProperties
 * (https://learn.microsoft.com/graph/api/singlevaluelegacyextendedproperty-post-singlevalueextendedproperties),
 * extensions (https://learn.microsoft.com/graph/api/opentypeextension-post-opentypeextension) and
 * attachments of a new event; the schema marks these deepInsert. calendar (not contained), instances and
 * exceptionOccurrences (Insertable=false in the CSDL) are server-maintained: Graph's answer to inline
 * content for them is not documented, so the text here is the sandbox's own.
 */
function validateNavigationContent(
  value: unknown,
  navigation: SchemaNavigationProperty,
  propertyName: string,
  owner: CompiledType,
  depth: number,
  answer: boolean,
): void {
  // An answer may carry any navigation property inline: that is what $expand asks for (e.g. an eventMessage's
  // event, https://learn.microsoft.com/graph/api/eventmessage-get example 2); a request body only the deep-insertable ones.
  if (!navigation.deepInsert && !answer) {
    throw new Rejection(
      REQUEST_BODY_READ,
      `The navigation property '${propertyName}' of type '${typeNameInMessages(owner.name)}' cannot be written in a request body.`,
    );
  }
  const targetType = compiledSchema().types.get(navigation.type);
  if (targetType === undefined) {
    throw new Error(`graph-v1.json: navigation property '${propertyName}' targets ${navigation.type}, which the schema lacks`);
  }
  if (navigation.collection === true) {
    if (!Array.isArray(value)) throw rejectUnexpectedNode(nodeKindOf(value), 'StartArray', propertyName);
    for (const item of value) {
      if (!isJsonObject(item)) throw rejectUnexpectedNode(nodeKindOf(item), 'StartObject', propertyName);
      validateResource(item, targetType, depth, answer);
    }
    return;
  }
  if (value === null && navigation.nullable !== false) return;
  if (!isJsonObject(value)) throw rejectUnexpectedNode(nodeKindOf(value), 'StartObject', propertyName);
  validateResource(value, targetType, depth, answer);
}

// ---------------------------------------------------------------------------------------------------------
// Enums
// ---------------------------------------------------------------------------------------------------------

/**
 * Enum members travel as JSON strings. Graph matches them case-insensitively: its own examples send
 * "contentType": "HTML" (https://learn.microsoft.com/graph/api/user-post-events) and "status": "Scheduled"
 * / "Monday" (https://learn.microsoft.com/graph/api/user-update-mailboxsettings) and get lower-case values
 * back. An unknown member is a .NET Enum.Parse failure, documented on user-update-mailboxsettings (Errors:
 * 400 InvalidArguments "Requested value 'RandomDay' was not found.", another Exchange-served resource); a
 * client project records the same text from Graph for a todoTask body ("Requested value 'Text' was not
 * found"). Numeric strings ("2"), which .NET Enum.Parse would also take, are refused here: Graph does not
 * document them, and a client sending them has a bug worth seeing.
 */
function validateEnumValue(value: unknown, enumType: CompiledEnum, propertyName: string): void {
  if (typeof value !== 'string') {
    // JsonReaderExtensions_CannotReadPropertyValueAsString: ODataLib reads enum values as JSON strings only.
    throw new Rejection(
      REQUEST_BODY_READ,
      `Cannot read the value '${dotNetLiteral(value)}' for the property '${propertyName}' as a quoted JSON string value.`,
    );
  }
  // Flags enums take "a, b"; none is reachable from event today, but the schema records them.
  const members = enumType.isFlags ? value.split(',') : [value];
  for (const member of members) {
    if (!enumType.lowerCaseMembers.has(member.trim().toLowerCase())) {
      throw new Rejection('InvalidArguments', `Requested value '${value}' was not found.`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Primitives: what ODataLib's ODataPayloadValueConverter accepts. A JSON string is converted to any
// primitive type (.NET Convert.ChangeType: "5" is a valid Edm.Int32, "true" a valid Edm.Boolean); a JSON
// number or boolean must fit the target type. Every failure is ReaderValidationUtils_CannotConvertPrimitiveValue
// (see rejectLiteral); Dataverse, on the same library, answers a JSON 1 sent for a boolean with that text.
// ---------------------------------------------------------------------------------------------------------

const INT32_MIN = -2_147_483_648;
const INT32_MAX = 2_147_483_647;

function validatePrimitiveValue(value: unknown, edmType: string): void {
  const accepts = PRIMITIVE_CHECKS[edmType];
  // An Edm type this file does not know yet: accept any JSON primitive rather than invent a rule.
  if (accepts === undefined) return;
  if (!accepts(value)) throw rejectLiteral(value, edmType);
}

const PRIMITIVE_CHECKS: Readonly<Record<string, (value: unknown) => boolean>> = {
  'Edm.String': (value) => typeof value === 'string',
  // .NET Boolean.Parse: "true"/"false" in any case, surrounding white space ignored.
  'Edm.Boolean': (value) =>
    typeof value === 'boolean' || (typeof value === 'string' && /^\s*(true|false)\s*$/i.test(value)),
  'Edm.Int32': (value) => {
    if (typeof value === 'number') return Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX;
    // .NET Int32.Parse with NumberStyles.Integer: optional sign, digits, surrounding white space.
    if (typeof value !== 'string' || !/^\s*[+-]?\d+\s*$/.test(value)) return false;
    const parsed = BigInt(value.trim());
    return parsed >= BigInt(INT32_MIN) && parsed <= BigInt(INT32_MAX);
  },
  // XmlConvert.ToDouble for strings: decimal or exponent notation, INF, -INF, NaN.
  'Edm.Double': (value) =>
    typeof value === 'number' ||
    (typeof value === 'string' && /^\s*([+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|-?INF|NaN|-?Infinity)\s*$/.test(value)),
  'Edm.DateTimeOffset': (value) => typeof value === 'string' && isDateTimeOffset(value),
  'Edm.Date': (value) => typeof value === 'string' && isEdmDate(value),
  // Convert.FromBase64String: white space is skipped, padding must be complete.
  'Edm.Binary': (value) => typeof value === 'string' && isBase64(value),
};

function isBase64(text: string): boolean {
  const compact = text.replace(/\s+/g, '');
  return compact.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(compact);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

function isCalendarDate(year: number, month: number, day: number): boolean {
  return year >= 1 && year <= 9999 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
}

/**
 * Edm.Date: "2024-05-31", the OData ABNF dateValue (four-digit year, two-digit month and day) naming a real
 * calendar day. Anything with a time part is refused ("Cannot convert the literal '...T12:00:00Z' to the
 * expected type 'Edm.Date'", recorded from Dataverse). recurrenceRange.startDate/endDate are event's Edm.Dates.
 */
function isEdmDate(text: string): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  return match !== null && isCalendarDate(Number(match[1]), Number(match[2]), Number(match[3]));
}

/** Milliseconds since the epoch for a UTC wall-clock time; unlike Date.UTC, years 1-99 stay years 1-99. */
function utcMilliseconds(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  return date.getTime();
}

/** .NET DateTimeOffset's range, to the second. */
const MIN_DATE_TIME_OFFSET_MS = utcMilliseconds(1, 1, 1);
const MAX_DATE_TIME_OFFSET_MS = utcMilliseconds(9999, 12, 31, 23, 59, 59);

/**
 * Edm.DateTimeOffset (createdDateTime, originalStart, responseStatus.time...): XML Schema dateTime as read by
 * ODataLib (XmlConvert.ToDateTimeOffset after padding missing seconds), with a mandatory "Z" or ±hh:mm:
 * "The time zone information is missing on the DateTimeOffset value" otherwise. The instant must lie in
 * .NET's DateTimeOffset range (0001-01-01 to 9999-12-31 UTC).
 */
function isDateTimeOffset(text: string): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|([+-])(\d{2}):(\d{2}))$/.exec(text);
  if (match === null) return false;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map((part) => Number(part ?? 0)) as [
    number, number, number, number, number, number,
  ];
  if (!isCalendarDate(year, month, day) || hour > 23 || minute > 59 || second > 59) return false;
  let offsetMinutes = 0;
  if (match[7] !== undefined) {
    const hours = Number(match[8]);
    const minutes = Number(match[9]);
    if (minutes > 59) return false;
    offsetMinutes = (hours * 60 + minutes) * (match[7] === '-' ? -1 : 1);
    if (Math.abs(offsetMinutes) > 14 * 60) return false;
  }
  const instant = utcMilliseconds(year, month, day, hour, minute, second) - offsetMinutes * 60_000;
  return instant >= MIN_DATE_TIME_OFFSET_MS && instant <= MAX_DATE_TIME_OFFSET_MS;
}

// ---------------------------------------------------------------------------------------------------------
// Extended properties: the id grammar of
// https://learn.microsoft.com/graph/api/resources/extended-properties-overview ("id formats"):
//   "{type} {guid} Name {name}"   e.g. "String {8ECCC264-6880-4EBE-992F-8888D2EEAA1D} Name TestProperty"
//   "{type} {guid} Id {id}"       e.g. "Integer {8ECCC264-6880-4EBE-992F-8888D2EEAA1D} Id 0x8012"
//   "{type} {proptag}"            e.g. "String 0x4001001E"
// single-value properties take scalar MAPI types, multi-value ones the ...Array types.
// ---------------------------------------------------------------------------------------------------------

/** Exchange's MapiPropertyType names (Null and Error cannot be written). */
const MAPI_SCALAR_TYPES = [
  'ApplicationTime', 'Binary', 'Boolean', 'CLSID', 'Currency', 'Double', 'Float', 'Integer', 'Long', 'Object', 'Short',
  'SystemTime', 'String',
] as const;
type MapiScalarType = (typeof MAPI_SCALAR_TYPES)[number];

interface MapiType {
  readonly scalarType: MapiScalarType;
  readonly isArray: boolean;
}
const MAPI_TYPE_BY_LOWER_CASE_NAME: ReadonlyMap<string, MapiType> = new Map(
  MAPI_SCALAR_TYPES.flatMap((scalarType): [string, MapiType][] => [
    [scalarType.toLowerCase(), { scalarType, isArray: false }],
    [`${scalarType.toLowerCase()}array`, { scalarType, isArray: true }],
  ]),
);

const GUID_PATTERN = '[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}';
const NAMESPACE_PATTERN = `(?:\\{${GUID_PATTERN}\\}|${GUID_PATTERN})`;
const EXTENDED_PROPERTY_ID_FORMATS = [
  new RegExp(`^(\\w+) +${NAMESPACE_PATTERN} +Name +\\S.*$`, 'i'),
  new RegExp(`^(\\w+) +${NAMESPACE_PATTERN} +Id +(?:0x[0-9A-Fa-f]{1,4}|\\d{1,5})$`, 'i'),
  new RegExp(`^(\\w+) +(?:0x[0-9A-Fa-f]{1,8}|\\d{1,10})$`, 'i'),
];

const EXTENDED_PROPERTY_KINDS: ReadonlyMap<string, { isMultiValue: boolean }> = new Map([
  ['microsoft.graph.singleValueLegacyExtendedProperty', { isMultiValue: false }],
  ['microsoft.graph.multiValueLegacyExtendedProperty', { isMultiValue: true }],
]);

function validateExtendedPropertyResource(resource: JsonObject, type: CompiledType): void {
  const kind = EXTENDED_PROPERTY_KINDS.get(type.name);
  if (kind === undefined) return;
  const id = resource['id'];
  const mapiTypeName =
    typeof id === 'string'
      ? EXTENDED_PROPERTY_ID_FORMATS.map((format) => format.exec(id)?.[1]).find((name) => name !== undefined)
      : undefined;
  const mapiType = mapiTypeName === undefined ? undefined : MAPI_TYPE_BY_LOWER_CASE_NAME.get(mapiTypeName.toLowerCase());
  if (mapiType === undefined) {
    // Graph's answer to an id outside the grammar: 400 ErrorInvalidProperty, as reported in
    // https://github.com/microsoftgraph/msgraph-sdk-powershell/issues/2784. A missing id gets the same answer
    // here; Graph's answer for that case is not documented.
    throw new Rejection(
      'ErrorInvalidProperty',
      "PropertyId values may only be in one of the following formats: 'MapiPropertyType namespaceGuid Name propertyName', 'MapiPropertyType namespaceGuid Id propertyId' or 'MapiPropertyType propertyTag'.",
    );
  }
  if (mapiType.isArray !== kind.isMultiValue) {
    // A scalar type in multiValueExtendedProperties or an ...Array type in singleValueExtendedProperties.
    // Graph's text for this case is not documented; this is Exchange's ErrorInvalidExtendedProperty, which
    // Graph returns for an id whose type does not fit the property (microsoft-graph-docs#2251).
    throw new Rejection('ErrorInvalidExtendedProperty', 'The extended property attribute combination is invalid.');
  }
  const values = kind.isMultiValue ? resource['value'] : [resource['value']];
  if (!Array.isArray(values)) return;
  for (const item of values) {
    if (typeof item === 'string' && !isMapiValueText(item, mapiType.scalarType)) {
      // Exchange's ErrorInvalidExtendedPropertyValue ("The extended property value is inconsistent with its
      // type.", https://learn.microsoft.com/exchange/client-developer/web-service-reference/responsecode).
      // Graph's exact answer is not documented.
      throw new Rejection(
        'ErrorInvalidExtendedPropertyValue',
        'The extended property value is inconsistent with its type.',
      );
    }
  }
}

/** Whether the string form of an extended property value parses as its MAPI type. */
function isMapiValueText(text: string, scalarType: MapiScalarType): boolean {
  const integerInRange = (min: bigint, max: bigint) =>
    /^\s*[+-]?\d+\s*$/.test(text) && BigInt(text.trim()) >= min && BigInt(text.trim()) <= max;
  switch (scalarType) {
    case 'Boolean':
      return /^\s*(true|false)\s*$/i.test(text);
    case 'Short':
      return integerInRange(-32_768n, 32_767n);
    case 'Integer':
      return integerInRange(BigInt(INT32_MIN), BigInt(INT32_MAX));
    case 'Long':
      return integerInRange(-9_223_372_036_854_775_808n, 9_223_372_036_854_775_807n);
    case 'Double':
    case 'Float':
    case 'Currency':
      return /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/.test(text);
    case 'SystemTime':
    case 'ApplicationTime':
      return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$/.test(text);
    case 'CLSID':
      return new RegExp(`^${NAMESPACE_PATTERN}$`).test(text);
    case 'Binary':
      return isBase64(text);
    case 'String':
    case 'Object':
      return true;
  }
}
