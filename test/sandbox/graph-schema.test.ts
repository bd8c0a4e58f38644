import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_METADATA_PATH,
  GENERATOR_VERSION,
  OUTPUT_PATH,
  generateGraphSchema,
  readMetadata,
} from '../../scripts/gen-graph-schema.ts';
import {
  graphSchemaInfo,
  validateGraphBody,
  type GraphBodyError,
  type GraphSchemaFile,
  type SchemaProperty,
} from '../../src/sandbox/graph/schema/validate.ts';

const committedSchemaText = readFileSync(OUTPUT_PATH, 'utf8');
const schema = JSON.parse(committedSchemaText) as GraphSchemaFile;

/** The realistic body calpush sends when it creates an event. */
function realisticEvent(): Record<string, unknown> {
  return {
    subject: 'Physics 101 — lecture',
    body: { contentType: 'html', content: '<p>Room changed to <b>B12</b></p>' },
    start: { dateTime: '2025-03-10T09:00:00', timeZone: 'Europe/Berlin' },
    end: { dateTime: '2025-03-10T10:30:00', timeZone: 'Europe/Berlin' },
    isAllDay: false,
    location: { displayName: 'B12', locationType: 'conferenceRoom' },
    categories: ['calpush', 'Lectures'],
    showAs: 'busy',
    sensitivity: 'normal',
    importance: 'normal',
    isReminderOn: true,
    reminderMinutesBeforeStart: 15,
    transactionId: '5a0b2bb0-4c6e-4d6e-9d7f-0b6f4a1f9e21',
    singleValueExtendedProperties: [
      { id: 'String {66f5a359-4659-4830-9070-00047ec6ac6e} Name calpush.key', value: 'timetable:physics-101:2025-03-10' },
    ],
  };
}

function expectRejected(result: GraphBodyError | null, code: string, message: string | RegExp): void {
  expect(result).not.toBeNull();
  expect(result!.status).toBe(400);
  expect(result!.code).toBe(code);
  if (typeof message === 'string') expect(result!.message).toBe(message);
  else expect(result!.message).toMatch(message);
}

const unknownPropertyMessage = (name: string, type: string) =>
  `The property '${name}' does not exist on type '${type}'. Make sure to only use property names that are defined by the type or mark the type as open type.`;

describe('gen-graph-schema', () => {
  it('committed graph-v1.json is what the generator makes from the committed CSDL (reference/graph)', () => {
    const metadata = readMetadata(DEFAULT_METADATA_PATH);
    const regenerated = generateGraphSchema(metadata);
    // Compare headers first for a readable failure, then the whole text.
    expect(JSON.parse(regenerated).header, 'stale schema: run `npm run gen:graph-schema`').toEqual(schema.header);
    expect(regenerated === committedSchemaText, 'stale schema: run `npm run gen:graph-schema`').toBe(true);
    expect(schema.header.sha256).toBe(createHash('sha256').update(metadata).digest('hex'));
  });

  it('says in one line what is missing when its input is not there (no stack trace)', () => {
    const missing = join(tmpdir(), 'calpush-no-such-csdl.xml.gz');
    const run = spawnSync(process.execPath, [join(import.meta.dirname, '../../scripts/gen-graph-schema.ts'), missing], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toEqual([
      `gen:graph-schema: cannot read ${missing} (ENOENT); pass the Graph v1.0 CSDL (.xml or .xml.gz) as the argument`,
    ]);
  });

  it('records its provenance in the header and in graphSchemaInfo()', () => {
    expect(schema.header.generatorVersion).toBe(GENERATOR_VERSION);
    expect(schema.header.roots).toEqual(['microsoft.graph.event', 'microsoft.graph.eventMessage', 'microsoft.graph.room', 'microsoft.graph.roomList', 'microsoft.graph.subscription']);
    expect(schema.header.answerRoots).toEqual(['microsoft.graph.group', 'microsoft.graph.user']);
    expect(schema.header.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(graphSchemaInfo()).toEqual({
      source: 'v1.0-metadata.xml',
      sha256: schema.header.sha256,
      types: Object.keys(schema.types).length,
      enums: Object.keys(schema.enums).length,
    });
  });

  it('flattens base types, keeps what a body can reach, and stays small', () => {
    const event = schema.types['microsoft.graph.event']!;
    expect(event.ancestors).toEqual(['microsoft.graph.outlookItem', 'microsoft.graph.entity']);
    expect(event.properties['id']).toEqual({ type: 'Edm.String', nullable: false }); // from entity
    expect(event.properties['categories']).toEqual({ type: 'Edm.String', collection: true }); // from outlookItem
    expect(event.navigation?.['singleValueExtendedProperties']?.deepInsert).toBe(true);
    expect(event.navigation?.['instances']?.deepInsert).toBe(false); // Insertable=false out of line
    expect(event.navigation?.['calendar']?.deepInsert).toBe(false); // not contained
    expect(schema.types['microsoft.graph.calendar']).toBeUndefined();
    expect(schema.types['microsoft.graph.attendee']?.ancestors).toEqual([
      'microsoft.graph.attendeeBase',
      'microsoft.graph.recipient',
    ]);
    expect(schema.enums['microsoft.graph.freeBusyStatus']?.members).toContain('workingElsewhere');
    expect(committedSchemaText.length).toBeLessThan(64 * 1024);
  });

  it('holds the answer-only types (group, user) with their properties and without navigation', () => {
    const user = schema.types['microsoft.graph.user']!;
    const group = schema.types['microsoft.graph.group']!;
    expect(user.ancestors).toEqual(['microsoft.graph.directoryObject', 'microsoft.graph.entity']);
    expect(user.properties['userPrincipalName']?.type).toBe('Edm.String');
    expect(group.properties['mail']?.type).toBe('Edm.String');
    expect(user.navigation).toBeUndefined();
    expect(group.navigation).toBeUndefined();
    // A user's complex value types come along; what only their navigation reaches (mail folders, printers) does not.
    expect(schema.types['microsoft.graph.mailboxSettings']).toBeDefined();
    expect(schema.types['microsoft.graph.userPrint']?.navigation).toBeUndefined();
    expect(schema.types['microsoft.graph.mailFolder']).toBeUndefined();
    expect(validateGraphBody('user', { id: 'x', mail: 'a@contoso.edu', userPrincipalName: 'a@contoso.edu' }, 'response')).toBeNull();
    expect(validateGraphBody('group', { id: 'x', mail: 'staff@contoso.edu', displayName: 'Staff' }, 'response')).toBeNull();
    // Both are open types (directoryObject is): a declared property's value is still held to its type.
    expect(user.open).toBe(true);
    expect(validateGraphBody('user', { id: 'x', accountEnabled: 'yes' }, 'response')).not.toBeNull();
    expect(validateGraphBody('group', { id: 'x', mail: 42 }, 'response')).not.toBeNull();
  });

  it('reads CSDL with aliases, out-of-line annotations, entities and quoted ">" in attributes', () => {
    const csdl = `\uFEFF<?xml version="1.0"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <!-- a comment with <tags> inside -->
  <edmx:DataServices>
    <Schema Namespace="microsoft.graph" Alias="graph" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EnumType Name="mood" IsFlags="true"><Member Name="calm" Value="1" /><Member Name="busy" Value="2" /></EnumType>
      <EntityType Name="entity" Abstract="true"><Key><PropertyRef Name="id" /></Key>
        <Property Name="id" Type="Edm.String" Nullable="false" /></EntityType>
      <EntityType Name="event" BaseType="graph.entity" OpenType="true">
        <Property Name="subject" Type="Edm.String"><Annotation Term="Org.OData.Core.V1.Description" String="a &gt; b &amp; c" /></Property>
        <Property Name="mood" Type="graph.mood" />
        <Property Name="stamp" Type="Edm.DateTimeOffset" />
        <Property Name="where" Type="Collection(microsoft.graph.place)" Nullable="false" />
        <NavigationProperty Name="notes" Type="Collection(graph.note)" ContainsTarget="true" />
        <NavigationProperty Name="copies" Type="Collection(graph.event)" ContainsTarget="true" />
      </EntityType>
      <EntityType Name="note" BaseType="graph.entity"><Property Name="text" Type="Edm.String" /></EntityType>
      <ComplexType Name="place"><Property Name="name" Type="Edm.String" /></ComplexType>
      <ComplexType Name="room" BaseType="graph.place"><Property Name="floor" Type="Edm.Int32" /></ComplexType>
      <ComplexType Name="unrelated"><Property Name="x" Type="Edm.String" /></ComplexType>
      <Annotations Target="graph.event/stamp"><Annotation Term="Org.OData.Core.V1.Computed" Bool="true" /></Annotations>
      <Annotations Target="microsoft.graph.event/copies">
        <Annotation Term="Org.OData.Capabilities.V1.InsertRestrictions">
          <Record><PropertyValue Property="Insertable" Bool="false" /></Record>
        </Annotation>
      </Annotations>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>`;
    const generated = JSON.parse(generateGraphSchema(new TextEncoder().encode(csdl), 'tiny.xml', ['microsoft.graph.event'])) as GraphSchemaFile;
    expect(generated.header.source).toBe('tiny.xml');
    expect(Object.keys(generated.types).sort()).toEqual([
      'microsoft.graph.event',
      'microsoft.graph.note',
      'microsoft.graph.place',
      'microsoft.graph.room', // derived from a declared type: may be sent with @odata.type
    ]);
    expect(generated.enums).toEqual({ 'microsoft.graph.mood': { members: ['calm', 'busy'], isFlags: true } });
    const event = generated.types['microsoft.graph.event']!;
    expect(event.open).toBe(true);
    expect(event.properties).toEqual({
      id: { type: 'Edm.String', nullable: false },
      mood: { type: 'microsoft.graph.mood' },
      stamp: { type: 'Edm.DateTimeOffset', computed: true },
      subject: { type: 'Edm.String' },
      where: { type: 'microsoft.graph.place', collection: true, nullable: false },
    });
    expect(event.navigation).toEqual({
      copies: { type: 'microsoft.graph.event', collection: true, deepInsert: false },
      notes: { type: 'microsoft.graph.note', collection: true, deepInsert: true },
    });
    // Deterministic: same bytes, same text.
    expect(generateGraphSchema(new TextEncoder().encode(csdl), 'tiny.xml', ['microsoft.graph.event'])).toBe(
      generateGraphSchema(new TextEncoder().encode(csdl), 'tiny.xml', ['microsoft.graph.event']),
    );
  });

  it('refuses malformed XML instead of guessing', () => {
    const encode = (xml: string) => new TextEncoder().encode(xml);
    expect(() => generateGraphSchema(encode('<a><b></a>'))).toThrow(/unexpected <\/a>/);
    expect(() => generateGraphSchema(encode('<a x=1/>'))).toThrow(/unquoted attribute/);
    expect(() => generateGraphSchema(encode('<a>&nbsp;</a>'))).toThrow(/unknown XML entity/);
    expect(() => generateGraphSchema(encode('<a>'))).toThrow(/never closed/);
  });
});

describe('validateGraphBody: valid bodies', () => {
  it('accepts the realistic event body calpush sends, for POST and PATCH', () => {
    expect(validateGraphBody('event', realisticEvent(), 'create')).toBeNull();
    expect(validateGraphBody('microsoft.graph.event', realisticEvent(), 'update')).toBeNull();
    expect(validateGraphBody('event', {}, 'update')).toBeNull();
  });

  it('accepts a full-featured event: attendees, recurrence, online meeting, extensions, attachments', () => {
    const body = {
      ...realisticEvent(),
      '@odata.type': '#microsoft.graph.event',
      attendees: [
        {
          type: 'required',
          emailAddress: { name: 'Adele Vance', address: 'adelev@contoso.com' },
          status: { response: 'none', time: '0001-01-01T00:00:00Z' },
        },
        { '@odata.type': 'microsoft.graph.attendee', type: 'Resource', emailAddress: { address: 'room@contoso.com' } },
      ],
      organizer: { '@odata.type': '#microsoft.graph.attendee', emailAddress: { address: 'me@contoso.com' }, type: 'optional' },
      recurrence: {
        pattern: { type: 'weekly', interval: 1, daysOfWeek: ['Monday', 'wednesday'], firstDayOfWeek: 'sunday' },
        range: { type: 'endDate', startDate: '2025-03-10', endDate: '2025-07-31', recurrenceTimeZone: 'Europe/Berlin' },
      },
      locations: [{ displayName: 'B12', address: { city: 'Berlin' }, coordinates: { latitude: 52.52, longitude: '13.40' } }],
      isOnlineMeeting: true,
      onlineMeetingProvider: 'teamsForBusiness',
      allowNewTimeProposals: false,
      hideAttendees: false,
      responseRequested: true,
      multiValueExtendedProperties: [
        { id: 'StringArray {66f5a359-4659-4830-9070-00047ec6ac6e} Name calpush.sources', value: ['a', 'b'] },
      ],
      extensions: [
        {
          '@odata.type': 'microsoft.graph.openTypeExtension',
          extensionName: 'com.example.calpush',
          anything: { nested: [1, 'two', null] },
        },
      ],
      attachments: [
        { '@odata.type': '#microsoft.graph.fileAttachment', name: 'notes.txt', contentBytes: 'aGVsbG8gd29ybGQ=', isInline: false },
      ],
    };
    expect(validateGraphBody('event', body, 'create')).toBeNull();
  });

  // https://learn.microsoft.com/graph/api/user-post-events sends "contentType": "HTML".
  it('matches enum members case-insensitively and converts strings to numbers and booleans as Graph does', () => {
    const body = { ...realisticEvent(), showAs: 'Busy', body: { contentType: 'HTML', content: 'x' } };
    expect(validateGraphBody('event', body, 'create')).toBeNull();
    expect(validateGraphBody('event', { reminderMinutesBeforeStart: ' 15 ', isAllDay: 'TRUE' }, 'update')).toBeNull();
  });

  it('parses read-only properties but does not reject them (Graph ignores them)', () => {
    const body = {
      ...realisticEvent(),
      id: 'AAMkAGI2TG93AAA=',
      changeKey: 'iCTE/HGTBIGLONGUGLYSTRINGxtg==',
      createdDateTime: '2025-03-01T08:00:00.1234567Z',
      lastModifiedDateTime: '2025-03-01T08:00:00+01:00',
      iCalUId: '040000008200E00074C5B7101A82E008',
      webLink: 'https://outlook.office365.com/owa/?itemid=AAMk',
      type: 'singleInstance',
      seriesMasterId: null,
      isOrganizer: true,
      hasAttachments: false,
      bodyPreview: 'Room changed',
    };
    expect(validateGraphBody('event', body, 'create')).toBeNull();
    expect(validateGraphBody('event', body, 'update')).toBeNull();
  });

  it('ignores instance and property annotations', () => {
    const body = {
      '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#users/events/$entity',
      '@odata.etag': 'W/"abc"',
      '@microsoft.graph.anything': { x: 1 },
      'subject@odata.type': '#String',
      'calendar@odata.bind': 'https://graph.microsoft.com/v1.0/me/calendars/AAA',
      ...realisticEvent(),
    };
    expect(validateGraphBody('event', body, 'create')).toBeNull();
  });

  it('accepts null for nullable properties', () => {
    expect(validateGraphBody('event', { subject: null, location: null, body: null, showAs: null }, 'update')).toBeNull();
  });
});

describe('validateGraphBody: each rule', () => {
  const cases: {
    rule: string;
    body: unknown;
    code: string;
    message: string | RegExp;
  }[] = [
    {
      rule: 'unknown top-level property (event is closed despite OpenType in the CSDL)',
      body: { ...realisticEvent(), reminderMinutes: 5 },
      code: 'RequestBodyRead',
      message: unknownPropertyMessage('reminderMinutes', 'Microsoft.OutlookServices.Event'),
    },
    {
      rule: 'unknown nested property',
      body: { attendees: [{ emailAddress: { address: 'a@b.c', displayName: 'A' } }] },
      code: 'RequestBodyRead',
      message: unknownPropertyMessage('displayName', 'Microsoft.OutlookServices.EmailAddress'),
    },
    {
      rule: 'property names are case-sensitive',
      body: { Subject: 'x' },
      code: 'RequestBodyRead',
      message: unknownPropertyMessage('Subject', 'Microsoft.OutlookServices.Event'),
    },
    {
      rule: 'names inherited from Object.prototype are not properties',
      body: JSON.parse('{"__proto__": {"subject": "x"}}'),
      code: 'RequestBodyRead',
      message: unknownPropertyMessage('__proto__', 'Microsoft.OutlookServices.Event'),
    },
    {
      rule: 'property of a derived type without @odata.type naming it',
      body: { organizer: { emailAddress: { address: 'a@b.c' }, type: 'required' } },
      code: 'RequestBodyRead',
      message: unknownPropertyMessage('type', 'Microsoft.OutlookServices.Recipient'),
    },
    {
      rule: 'invalid enum member',
      body: { showAs: 'xyz' },
      code: 'InvalidArguments',
      message: "Requested value 'xyz' was not found.",
    },
    {
      rule: 'invalid enum member in a collection',
      body: { recurrence: { pattern: { type: 'weekly', interval: 1, daysOfWeek: ['monday', 'funday'] } } },
      code: 'InvalidArguments',
      message: "Requested value 'funday' was not found.",
    },
    {
      rule: 'enum sent as a number',
      body: { sensitivity: 2 },
      code: 'RequestBodyRead',
      message: "Cannot read the value '2' for the property 'sensitivity' as a quoted JSON string value.",
    },
    {
      rule: 'string where Edm.Boolean is expected',
      body: { isAllDay: 'yes' },
      code: 'RequestBodyRead',
      message: "Cannot convert the literal 'yes' to the expected type 'Edm.Boolean'.",
    },
    {
      rule: 'number where Edm.Boolean is expected',
      body: { isReminderOn: 1 },
      code: 'RequestBodyRead',
      message: "Cannot convert the literal '1' to the expected type 'Edm.Boolean'.",
    },
    {
      rule: 'boolean where Edm.String is expected',
      body: { subject: true },
      code: 'RequestBodyRead',
      message: "Cannot convert the literal 'True' to the expected type 'Edm.String'.",
    },
    {
      rule: 'fraction where Edm.Int32 is expected',
      body: { reminderMinutesBeforeStart: 1.5 },
      code: 'RequestBodyRead',
      message: "Cannot convert the literal '1.5' to the expected type 'Edm.Int32'.",
    },
    {
      rule: 'Edm.Int32 out of range',
      body: { reminderMinutesBeforeStart: 2_147_483_648 },
      code: 'RequestBodyRead',
      message: "Cannot convert the literal '2147483648' to the expected type 'Edm.Int32'.",
    },
    {
      rule: 'non-numeric string where Edm.Int32 is expected',
      body: { reminderMinutesBeforeStart: 'fifteen' },
      code: 'RequestBodyRead',
      message: "Cannot convert the literal 'fifteen' to the expected type 'Edm.Int32'.",
    },
    {
      rule: 'array where an object is expected',
      body: { location: [{ displayName: 'B12' }] },
      code: 'RequestBodyRead',
      message:
        "An unexpected 'StartArray' node was found for property named 'location' when reading from the JSON reader. A 'StartObject' node was expected.",
    },
    {
      rule: 'object where a collection is expected',
      body: { attendees: { emailAddress: { address: 'a@b.c' } } },
      code: 'RequestBodyRead',
      message:
        "An unexpected 'StartObject' node was found for property named 'attendees' when reading from the JSON reader. A 'StartArray' node was expected.",
    },
    {
      rule: 'string where a collection is expected',
      body: { categories: 'calpush' },
      code: 'RequestBodyRead',
      message:
        "An unexpected 'PrimitiveValue' node was found for property named 'categories' when reading from the JSON reader. A 'StartArray' node was expected.",
    },
    {
      rule: 'object where a primitive is expected',
      body: { subject: { text: 'x' } },
      code: 'RequestBodyRead',
      message:
        "An unexpected 'StartObject' node was found for property named 'subject' when reading from the JSON reader. A 'PrimitiveValue' node was expected.",
    },
    {
      rule: 'string where a complex value is expected',
      body: { start: '2025-03-10T09:00:00' },
      code: 'RequestBodyRead',
      message:
        "An unexpected 'PrimitiveValue' node was found for property named 'start' when reading from the JSON reader. A 'StartObject' node was expected.",
    },
    {
      rule: 'null for a non-nullable primitive',
      body: { start: { dateTime: null, timeZone: 'UTC' } },
      code: 'RequestBodyRead',
      message:
        "A null value was found for the property named 'dateTime', which has the expected type 'Edm.String[Nullable=False]'. The expected type 'Edm.String[Nullable=False]' does not allow null values.",
    },
    {
      rule: 'null for a non-nullable Edm.Int32',
      body: { recurrence: { pattern: { type: 'daily', interval: null } } },
      code: 'RequestBodyRead',
      message: /^A null value was found for the property named 'interval', which has the expected type 'Edm\.Int32\[Nullable=False\]'/,
    },
    {
      rule: 'null for a primitive collection',
      body: { categories: null },
      code: 'RequestBodyRead',
      message:
        "A null value was found for the property named 'categories', which has the expected type 'Collection(Edm.String)[Nullable=True]'. The expected type 'Collection(Edm.String)[Nullable=True]' cannot be null but it can have null values.",
    },
    {
      rule: 'null for a complex collection',
      body: { attendees: null },
      code: 'RequestBodyRead',
      message: /^A null value was found for the property named 'attendees', which has the expected type 'Collection\(Microsoft\.OutlookServices\.Attendee\)/,
    },
    {
      rule: 'null item in a collection whose items are non-nullable',
      body: { cancelledOccurrences: ['OID.1', null] },
      code: 'RequestBodyRead',
      message: "A null value was found in a collection, but the expected collection item type 'Edm.String' does not allow null values.",
    },
    {
      rule: 'Edm.DateTimeOffset without a time zone',
      body: { originalStart: '2025-03-10T09:00:00' },
      code: 'RequestBodyRead',
      message: "Cannot convert the literal '2025-03-10T09:00:00' to the expected type 'Edm.DateTimeOffset'.",
    },
    {
      rule: 'Edm.DateTimeOffset with an impossible date',
      body: { attendees: [{ status: { response: 'none', time: '2025-02-29T00:00:00Z' } }] },
      code: 'RequestBodyRead',
      message: "Cannot convert the literal '2025-02-29T00:00:00Z' to the expected type 'Edm.DateTimeOffset'.",
    },
    {
      rule: 'Edm.DateTimeOffset before 0001-01-01 UTC',
      body: { createdDateTime: '0001-01-01T00:00:00+01:00' },
      code: 'RequestBodyRead',
      message: "Cannot convert the literal '0001-01-01T00:00:00+01:00' to the expected type 'Edm.DateTimeOffset'.",
    },
    {
      rule: 'Edm.DateTimeOffset with an offset beyond 14 hours',
      body: { createdDateTime: '2025-01-01T00:00:00+14:30' },
      code: 'RequestBodyRead',
      message: "Cannot convert the literal '2025-01-01T00:00:00+14:30' to the expected type 'Edm.DateTimeOffset'.",
    },
    {
      rule: 'Edm.Date with a time part',
      body: { recurrence: { range: { type: 'noEnd', startDate: '2025-03-10T00:00:00Z' } } },
      code: 'RequestBodyRead',
      message: "Cannot convert the literal '2025-03-10T00:00:00Z' to the expected type 'Edm.Date'.",
    },
    {
      rule: 'Edm.Date that is not a calendar day',
      body: { recurrence: { range: { type: 'noEnd', startDate: '2025-02-30' } } },
      code: 'RequestBodyRead',
      message: "Cannot convert the literal '2025-02-30' to the expected type 'Edm.Date'.",
    },
    {
      rule: 'Edm.Binary that is not base64',
      body: { attachments: [{ '@odata.type': '#microsoft.graph.fileAttachment', name: 'a', contentBytes: 'not base64!' }] },
      code: 'RequestBodyRead',
      message: "Cannot convert the literal 'not base64!' to the expected type 'Edm.Binary'.",
    },
    {
      rule: '@odata.type naming an unknown type',
      body: { '@odata.type': '#microsoft.graph.evnt', subject: 'x' },
      code: 'RequestBodyRead',
      message:
        "A type named 'microsoft.graph.evnt' could not be resolved by the model. When a model is available, each type name must resolve to a valid type.",
    },
    {
      rule: '@odata.type naming a type that is not derived from the declared one',
      body: { organizer: { '@odata.type': '#microsoft.graph.emailAddress', address: 'a@b.c' } },
      code: 'RequestBodyRead',
      message:
        "A resource with type 'Microsoft.OutlookServices.EmailAddress' was found, but it is not assignable to the expected type 'Microsoft.OutlookServices.Recipient'. The type specified in the resource must be equal to either the expected type or a derived type.",
    },
    {
      rule: '@odata.type that is null',
      body: { '@odata.type': null },
      code: 'RequestBodyRead',
      message: /^The 'odata\.type' instance or property annotation has a null value\./,
    },
    {
      rule: 'deep insert of an abstract type without @odata.type',
      body: { extensions: [{ extensionName: 'com.example.calpush' }] },
      code: 'RequestBodyRead',
      message: "Cannot create an instance of an abstract resource type 'Microsoft.OutlookServices.Extension'.",
    },
    {
      rule: 'inline content for a navigation property that cannot be deep-inserted',
      body: { instances: [{ subject: 'x' }] },
      code: 'RequestBodyRead',
      message: "The navigation property 'instances' of type 'Microsoft.OutlookServices.Event' cannot be written in a request body.",
    },
    {
      rule: 'extended properties given as an object instead of an array',
      body: { singleValueExtendedProperties: { id: 'String 0x0037', value: 'x' } },
      code: 'RequestBodyRead',
      message:
        "An unexpected 'StartObject' node was found for property named 'singleValueExtendedProperties' when reading from the JSON reader. A 'StartArray' node was expected.",
    },
    {
      rule: 'extended property id outside the documented grammar',
      body: { singleValueExtendedProperties: [{ id: 'calpush.key', value: 'x' }] },
      code: 'ErrorInvalidProperty',
      message:
        "PropertyId values may only be in one of the following formats: 'MapiPropertyType namespaceGuid Name propertyName', 'MapiPropertyType namespaceGuid Id propertyId' or 'MapiPropertyType propertyTag'.",
    },
    {
      rule: 'extended property id with an unknown MAPI type',
      body: { singleValueExtendedProperties: [{ id: 'Text {66f5a359-4659-4830-9070-00047ec6ac6e} Name k', value: 'x' }] },
      code: 'ErrorInvalidProperty',
      message: /^PropertyId values may only be in one of the following formats/,
    },
    {
      rule: 'extended property id with a malformed GUID',
      body: { singleValueExtendedProperties: [{ id: 'String {66f5a359-4659-4830-9070} Name k', value: 'x' }] },
      code: 'ErrorInvalidProperty',
      message: /^PropertyId values may only be in one of the following formats/,
    },
    {
      rule: 'extended property without an id',
      body: { singleValueExtendedProperties: [{ value: 'x' }] },
      code: 'ErrorInvalidProperty',
      message: /^PropertyId values may only be in one of the following formats/,
    },
    {
      rule: 'extended property value that is not a string',
      body: { singleValueExtendedProperties: [{ id: 'Integer 0x8012', value: 5 }] },
      code: 'RequestBodyRead',
      message: "Cannot convert the literal '5' to the expected type 'Edm.String'.",
    },
    {
      rule: 'array MAPI type in a single-value extended property',
      body: { singleValueExtendedProperties: [{ id: 'StringArray 0x8012', value: 'x' }] },
      code: 'ErrorInvalidExtendedProperty',
      message: 'The extended property attribute combination is invalid.',
    },
    {
      rule: 'extended property value that does not parse as its MAPI type',
      body: { singleValueExtendedProperties: [{ id: 'Integer {66f5a359-4659-4830-9070-00047ec6ac6e} Id 0x8012', value: 'ten' }] },
      code: 'ErrorInvalidExtendedPropertyValue',
      message: 'The extended property value is inconsistent with its type.',
    },
    {
      rule: 'a top-level array instead of an object',
      body: [realisticEvent()],
      code: 'RequestBodyRead',
      message: "An unexpected 'StartArray' node was found when reading from the JSON reader. A 'StartObject' node was expected.",
    },
    {
      rule: 'no body at all',
      body: undefined,
      code: 'BadRequest',
      message: 'Empty Payload. JSON content expected.',
    },
  ];

  for (const { rule, body, code, message } of cases) {
    it(`rejects ${rule}`, () => {
      expectRejected(validateGraphBody('event', body, 'create'), code, message);
      expectRejected(validateGraphBody('event', body, 'update'), code, message);
    });
  }

  it('accepts every documented extended property id format', () => {
    const ids = [
      'String {8ECCC264-6880-4EBE-992F-8888D2EEAA1D} Name TestProperty',
      'Integer {8ECCC264-6880-4EBE-992F-8888D2EEAA1D} Id 0x8012',
      'String 0x4001001E',
      'string {8ECCC264-6880-4EBE-992F-8888D2EEAA1D} name Name with spaces',
    ];
    const values: Record<string, string> = { Integer: '42' };
    const body = {
      singleValueExtendedProperties: ids.map((id) => ({ id, value: values[id.split(' ')[0]!] ?? 'v' })),
      multiValueExtendedProperties: [
        { id: 'StringArray {8ECCC264-6880-4EBE-992F-8888D2EEAA1D} Name TestProperty', value: ['a', 'b'] },
        { id: 'IntegerArray {8ECCC264-6880-4EBE-992F-8888D2EEAA1D} Id 0x8013', value: ['1', '-2'] },
        { id: 'StringArray 0x4002101E', value: [] },
      ],
    };
    expect(validateGraphBody('event', body, 'create')).toBeNull();
  });

  it('reports the first problem in document order', () => {
    const result = validateGraphBody('event', { showAs: 'nope', bogus: 1 }, 'create');
    expectRejected(result, 'InvalidArguments', "Requested value 'nope' was not found.");
  });

  it('throws for an entity type the schema does not have (a caller bug, not a client error)', () => {
    expect(() => validateGraphBody('calendar', {}, 'create')).toThrow(/no schema for entity type 'calendar'/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Property tests. Valid bodies are generated from the committed schema itself, so a schema change is
// exercised without editing this file.
// ---------------------------------------------------------------------------------------------------------

const INT32_MIN = -2_147_483_648;
const INT32_MAX = 2_147_483_647;

function bytesToBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

const guidArbitrary = fc.uuid({ version: 4 }).map((uuid) => `{${uuid.toUpperCase()}}`);

const singleValueIdArbitrary = fc.oneof(
  fc.tuple(guidArbitrary, fc.stringMatching(/^[A-Za-z][\w.]{0,20}$/)).map(([guid, name]) => `String ${guid} Name ${name}`),
  fc.tuple(guidArbitrary, fc.integer({ min: 0x8000, max: 0xfffe })).map(([guid, id]) => `String ${guid} Id 0x${id.toString(16)}`),
  fc.integer({ min: 1, max: 0x7fff }).map((tag) => `String 0x${((tag << 16) | 0x001e).toString(16).padStart(8, '0')}`),
);

/** Instants inside .NET's DateTimeOffset range, written the way Graph clients write them. */
const dateTimeOffsetArbitrary = fc
  .date({ min: new Date('0001-01-02T00:00:00Z'), max: new Date('9999-12-30T23:59:59Z'), noInvalidDate: true })
  .chain((date) =>
    fc.constantFrom(date.toISOString(), date.toISOString().replace('.000Z', 'Z'), date.toISOString().replace(/\.\d+Z$/, '+00:00')),
  );

const primitiveArbitraries: Record<string, fc.Arbitrary<unknown>> = {
  'Edm.String': fc.string(),
  'Edm.Boolean': fc.boolean(),
  'Edm.Int32': fc.oneof(fc.integer({ min: INT32_MIN, max: INT32_MAX }), fc.integer({ min: -1000, max: 1000 }).map(String)),
  'Edm.Double': fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom('INF', '-INF', 'NaN', '1.5e3')),
  'Edm.DateTimeOffset': dateTimeOffsetArbitrary,
  'Edm.Date': fc
    .date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T00:00:00Z'), noInvalidDate: true })
    .map((date) => date.toISOString().slice(0, 10)),
  'Edm.Binary': fc.uint8Array({ maxLength: 48 }).map(bytesToBase64),
};

/** Concrete types a value declared as `declaredName` may be sent as. */
function concreteTypesAssignableTo(declaredName: string): string[] {
  return Object.entries(schema.types)
    .filter(([name, type]) => !type.abstract && (name === declaredName || type.ancestors?.includes(declaredName)))
    .map(([name]) => name)
    .sort();
}

/** The CSDL marks event open, but Graph rejects undeclared properties on it (see CLOSED_DESPITE_CSDL). */
function acceptsDynamicProperties(typeName: string): boolean {
  return schema.types[typeName]?.open === true && typeName !== 'microsoft.graph.event';
}

const resourceArbitraries = new Map<string, fc.Arbitrary<Record<string, unknown>>>();

/** A valid JSON object for `declaredName`: any subset of properties, derived types named with @odata.type. */
function resourceArbitrary(declaredName: string, depth = 0): fc.Arbitrary<Record<string, unknown>> {
  const cached = resourceArbitraries.get(declaredName);
  if (cached) return cached;
  if (depth > 8) throw new Error(`schema recursion through ${declaredName}: the generator needs a depth cap`);
  const candidates = concreteTypesAssignableTo(declaredName).map((concreteName) =>
    concreteResourceArbitrary(concreteName, declaredName, depth),
  );
  const arbitrary = fc.oneof(...candidates);
  resourceArbitraries.set(declaredName, arbitrary);
  return arbitrary;
}

function concreteResourceArbitrary(
  concreteName: string,
  declaredName: string,
  depth: number,
): fc.Arbitrary<Record<string, unknown>> {
  // Extended properties need ids in the documented grammar, with values of their MAPI type (String here).
  if (concreteName === 'microsoft.graph.singleValueLegacyExtendedProperty') {
    return fc.record({ id: singleValueIdArbitrary, value: fc.option(fc.string(), { nil: null }) });
  }
  if (concreteName === 'microsoft.graph.multiValueLegacyExtendedProperty') {
    return fc.record({
      id: singleValueIdArbitrary.map((id) => id.replace(/^String/, 'StringArray')),
      value: fc.array(fc.string(), { maxLength: 3 }),
    });
  }
  const type = schema.types[concreteName]!;
  const fields: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, property] of Object.entries(type.properties)) {
    fields[name] = propertyValueArbitrary(property, depth);
  }
  for (const [name, navigation] of Object.entries(type.navigation ?? {})) {
    if (!navigation.deepInsert) continue;
    const item = resourceArbitrary(navigation.type, depth + 1);
    fields[name] = navigation.collection ? fc.array(item, { maxLength: 2 }) : item;
  }
  const needsTypeAnnotation = concreteName !== declaredName || type.abstract === true;
  return fc
    .tuple(
      fc.record(fields, { requiredKeys: [] }),
      acceptsDynamicProperties(concreteName) ? dynamicPropertiesArbitrary(fields) : fc.constant({}),
      fc.boolean(),
    )
    .map(([declared, dynamic, withHash]) => ({
      ...(needsTypeAnnotation ? { '@odata.type': `${withHash ? '#' : ''}${concreteName}` } : {}),
      ...dynamic,
      ...declared,
    }));
}

/** Custom data of an open type (openTypeExtension): undeclared names, any JSON. */
function dynamicPropertiesArbitrary(declared: Record<string, unknown>) {
  const name = fc.string().filter((key) => !key.includes('@') && !Object.hasOwn(declared, key));
  return fc.dictionary(name, fc.jsonValue(), { maxKeys: 3 });
}

function propertyValueArbitrary(property: SchemaProperty, depth: number): fc.Arbitrary<unknown> {
  const single = singleValueArbitrary(property.type, depth);
  if (property.collection) return fc.array(single, { maxLength: 3 });
  return property.nullable === false ? single : fc.option(single, { nil: null, freq: 8 });
}

function singleValueArbitrary(typeName: string, depth: number): fc.Arbitrary<unknown> {
  const primitive = primitiveArbitraries[typeName];
  if (primitive) return primitive;
  const enumType = schema.enums[typeName];
  // Any casing: Graph matches members case-insensitively.
  if (enumType) return fc.mixedCase(fc.constantFrom(...enumType.members));
  if (typeName.startsWith('Edm.')) throw new Error(`no arbitrary for ${typeName}: add one to primitiveArbitraries`);
  return resourceArbitrary(typeName, depth + 1);
}

const validEventArbitrary = resourceArbitrary('microsoft.graph.event');
const modeArbitrary = fc.constantFrom('create' as const, 'update' as const);
const eventType = schema.types['microsoft.graph.event']!;
const eventMemberNames = new Set([...Object.keys(eventType.properties), ...Object.keys(eventType.navigation ?? {})]);

function withOwnProperty(object: Record<string, unknown>, name: string, value: unknown): Record<string, unknown> {
  const copy = { ...object };
  // defineProperty, not assignment: "__proto__" must become a real key, as JSON.parse would make it.
  Object.defineProperty(copy, name, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

function isCollectionMember(name: string): boolean {
  const member = eventType.properties[name] ?? eventType.navigation?.[name];
  return member?.collection === true;
}

function isGraphBodyError(result: unknown): result is GraphBodyError {
  if (result === null || typeof result !== 'object') return false;
  const candidate = result as Record<string, unknown>;
  return candidate['status'] === 400 && typeof candidate['code'] === 'string' && typeof candidate['message'] === 'string';
}

describe('validateGraphBody: properties', () => {
  it('(a) accepts every body generated from the schema', () => {
    fc.assert(
      fc.property(validEventArbitrary, modeArbitrary, (body, mode) => {
        expect(validateGraphBody('event', body, mode)).toBeNull();
        // What the sandbox really receives is parsed JSON.
        expect(validateGraphBody('event', JSON.parse(JSON.stringify(body)), mode)).toBeNull();
      }),
      { numRuns: 300 },
    );
  });

  it('(b) rejects any undeclared property, naming it', () => {
    const unknownName = fc
      .oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'Subject', 'SHOWAS', 'odata.type'))
      .filter((name) => !name.includes('@') && !eventMemberNames.has(name));
    fc.assert(
      fc.property(validEventArbitrary, unknownName, fc.jsonValue(), (body, name, value) => {
        const result = validateGraphBody('event', withOwnProperty(body, name, value), 'create');
        expectRejected(result, 'RequestBodyRead', unknownPropertyMessage(name, 'Microsoft.OutlookServices.Event'));
      }),
    );
  });

  it('(b) rejects an undeclared property inside a closed complex value, naming it', () => {
    const startProperties = Object.keys(schema.types['microsoft.graph.dateTimeTimeZone']!.properties);
    const unknownName = fc.string().filter((name) => !name.includes('@') && !startProperties.includes(name));
    fc.assert(
      fc.property(validEventArbitrary, unknownName, fc.jsonValue(), (body, name, value) => {
        const start = withOwnProperty({ dateTime: '2025-03-10T09:00:00', timeZone: 'UTC' }, name, value);
        const result = validateGraphBody('event', { ...body, start }, 'update');
        expectRejected(result, 'RequestBodyRead', unknownPropertyMessage(name, 'Microsoft.OutlookServices.DateTimeTimeZone'));
      }),
    );
  });

  it('(c) never throws on junk: returns null or a 400 error', () => {
    const junk = fc.anything({
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withNullPrototype: true,
      withObjectString: true,
      withSet: true,
      withSparseArray: true,
      withTypedArray: true,
    });
    const memberName = fc.constantFrom(...eventMemberNames, '@odata.type');
    // Junk at the top, and junk in the places a real body has structure.
    const body = fc.oneof(
      junk,
      fc.dictionary(memberName, junk, { maxKeys: 6 }),
      fc.tuple(validEventArbitrary, memberName, junk).map(([event, name, value]) => withOwnProperty(event, name, value)),
      fc
        .tuple(
          fc.constantFrom('start', 'location', 'body', 'recurrence', 'attendees', 'singleValueExtendedProperties', 'extensions'),
          fc.dictionary(fc.string(), junk, { maxKeys: 4 }),
        )
        .map(([name, value]) => ({ [name]: isCollectionMember(name) ? [value] : value })),
    );
    fc.assert(
      fc.property(body, modeArbitrary, (candidate, mode) => {
        const result = validateGraphBody('event', candidate, mode);
        expect(result === null || isGraphBodyError(result)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});
