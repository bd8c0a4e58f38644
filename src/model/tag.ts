// The ownership tag: what marks an event as calpush's in every target. Non-negotiable 1 rests on it — only events
// carrying this instance's tag are ever changed or deleted.
//
// In Exchange (Graph and EWS alike) the tag is one MAPI named property in calpush's own property set, so an item
// written through either API is recognised by both (and survives a mailbox move between them). Graph addresses a
// named property as "String {GUID} Name X" (https://learn.microsoft.com/graph/api/resources/extended-properties-overview);
// EWS as ExtendedFieldURI PropertySetId + PropertyName. CalDAV carries the same value in X-CALPUSH-KEY
// (targets/caldav/ical.ts).
export const TAG_PROPERTY_SET = '8d406dd4-a20c-41db-a3a3-9f6d092c9a1c';
export const TAG_PROPERTY_NAME = 'CalpushKey';
/** The tag as Graph names it (singleValueExtendedProperties id). */
export const TAG_PROPERTY_ID = `String {${TAG_PROPERTY_SET}} Name ${TAG_PROPERTY_NAME}`;

/** The tag's value: format version, instance, event key and content hash. The hash lets adoption skip unchanged events. */
export function tagValue(instance: string, key: string, contentHash: string): string {
  return `v1;${instance};${key};${contentHash}`;
}

export function parseTagValue(value: string): { instance: string; key: string; contentHash: string } | null {
  const parts = value.split(';');
  if (parts.length !== 4 || parts[0] !== 'v1') return null;
  const [, instance, key, contentHash] = parts as [string, string, string, string];
  if (!instance || !/^[0-9a-f]{32}$/.test(key) || !/^[0-9a-f]{32}$/.test(contentHash)) return null;
  return { instance, key, contentHash };
}
