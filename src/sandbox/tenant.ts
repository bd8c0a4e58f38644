// The sandbox tenant: a deterministic university ("contoso.edu") with students, staff, rooms, one equipment
// mailbox, a few pre-existing foreign events and the calpush demo app registration.
import { createHash } from 'node:crypto';
import type { AppSeed, EwsAccountSeed, GroupSeed, MailboxSeed, RoomListSeed, TenantSeed } from './types.ts';

/** Fixed ids of the default tenant, so configs and docs can name them. */
export const DEMO_TENANT_ID = '2f6d1e3a-7c4b-4e8f-9a15-0c3b5d7e9f21';
export const DEMO_DOMAIN = 'contoso.edu';
export const DEMO_CLIENT_ID = '5a8e3c71-2d94-4b6f-8e0a-13c7f9d2b456';
/** Well-known demo secret (Entra-style "~" secret value). Never use a well-known secret outside the sandbox. */
export const DEMO_CLIENT_SECRET = 'cpS8Q~sandbox.demo-secret_not.for.production';
/** A second registered app with no Graph permission at all (for 403 tests and demos). */
export const NO_PERMISSION_CLIENT_ID = '9c0b7a65-3e21-4d8f-b7a4-6f1e2d3c4b5a';
export const NO_PERMISSION_CLIENT_SECRET = 'npS8Q~sandbox.no-permissions_not.for.production';
/** The app people sign in to for delegated access (no application permission; each user consents). */
export const DELEGATED_CLIENT_ID = '3e7d9a12-6b4f-4c8e-a1d5-7f2b9c0e4d63';
export const DELEGATED_CLIENT_SECRET = 'dlS8Q~sandbox.delegated-secret_not.for.production';
/** Where calpush's consent page answers on loopback (any port: Entra ignores the port of a loopback redirect URI). */
export const DELEGATED_REDIRECT_URIS = ['http://127.0.0.1/connect/callback', 'http://localhost/connect/callback'];
/**
 * An app for watching mailboxes and answering meeting requests (issue #15): Calendars.ReadWrite, Mail.ReadWrite (the
 * inboxes where meeting requests arrive) and Place.Read.All (room lists), GroupMember.Read.All (allowed organisers by group), with the demo app's RBAC scope.
 */
export const AGENT_CLIENT_ID = '3e7b9c14-8a2d-4f60-b5e1-7d9c0a4f2e86';
export const AGENT_CLIENT_SECRET = 'agS8Q~sandbox.agent-secret_not.for.production';

/** The object id Graph would give a user: derived deterministically from the address (UUID v5 layout). */
export function objectIdFor(address: string): string {
  const h = createHash('sha1').update(`calpush-sandbox:${address.toLowerCase()}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** mulberry32: a tiny deterministic PRNG, so seeds and sample data are the same on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const GIVEN = ['Anna', 'Bram', 'Chloé', 'Daan', 'Eva', 'Finn', 'Gina', 'Hugo', 'Iris', 'Jonas', 'Kim', 'Lars', 'Mila', 'Noah', 'Olga', 'Pim', 'Rosa', 'Sem', 'Tess', 'Vera', 'Wout', 'Yara', 'Zoë', 'Amir', 'Fatima', 'Mehmet', 'Priya', 'Wei'];
const FAMILY = ['de Vries', 'Jansen', 'Bakker', 'Visser', 'Smit', 'Meijer', 'Mulder', 'de Boer', 'Bos', 'Vos', 'Peters', 'Hendriks', 'Dekker', 'Brouwer', 'Yılmaz', 'Nguyen', 'Kaur', 'Chen', 'García', 'Okafor'];
const BUILDINGS = [
  { code: 'main', name: 'Main Building' },
  { code: 'sci', name: 'Science Park' },
  { code: 'lib', name: 'Library' },
  { code: 'arts', name: 'Arts Centre' },
];

/**
 * EWS service accounts of the default tenant (on-premises AD accounts, domain CONTOSO; each logs in as
 * CONTOSO\\user, as user@contoso.edu or as user). Well-known password, sandbox only.
 * - svc-mytt-1..4: members of the security group "Service Accounts MyTimetable Exchange", which has calendar
 *   (delegate) permission on every mailbox but outofscope@ (MyTimetable's service-account guide: several accounts multiply the
 *   per-account EWS budgets);
 * - svc-rooms: ApplicationImpersonation with a management scope = the members of the room list rooms@ plus the
 *   equipment mailbox (Serraview's Exchange guide; Pexip's VMR Scheduling guide);
 * - svc-norights: no rights at all.
 */
export const EWS_PASSWORD = 'Ews-Sandbox-2026!';
export const EWS_DELEGATE_ACCOUNTS = ['svc-mytt-1', 'svc-mytt-2', 'svc-mytt-3', 'svc-mytt-4'].map((u) => `${u}@${DEMO_DOMAIN}`);
export const EWS_IMPERSONATION_ACCOUNT = `svc-rooms@${DEMO_DOMAIN}`;
export const EWS_NO_RIGHTS_ACCOUNT = `svc-norights@${DEMO_DOMAIN}`;
/** ApplicationImpersonation of every in-scope mailbox: Pexip's "Impersonating all users and resources" (the full mode of Pexip's VMR Scheduling for Exchange guide). */
export const EWS_SCHEDULING_ACCOUNT = `svc-vmr@${DEMO_DOMAIN}`;
/** Room lists hold at most this many rooms: "If your distribution group exceeds 75 members then we recommend that you
 * bucket the room resource mailboxes into distribution groups of 75 mailboxes each" (Serraview's Exchange guide). */
export const ROOM_LIST_BUCKET = 75;
/** the room list with every room (the impersonation account's management scope) */
export const ALL_ROOMS_LIST = `rooms@${DEMO_DOMAIN}`;

export const OUT_OF_SCOPE_MAILBOX = `outofscope@${DEMO_DOMAIN}`;
export const UNLICENSED_MAILBOX = `unlicensed@${DEMO_DOMAIN}`;
export const NO_MAILBOX_USER = `nomailbox@${DEMO_DOMAIN}`;
export const EQUIPMENT_MAILBOX = `vmr-scheduling@${DEMO_DOMAIN}`;

export function studentAddress(n: number): string {
  return `s${String(n).padStart(4, '0')}@${DEMO_DOMAIN}`;
}
export function staffAddress(n: number): string {
  return `t${String(n).padStart(4, '0')}@${DEMO_DOMAIN}`;
}
export function roomAddress(n: number): string {
  const building = BUILDINGS[(n - 1) % BUILDINGS.length]!;
  const floor = Math.floor((n - 1) / BUILDINGS.length) + 1;
  return `room-${building.code}-${floor}${String(((n - 1) % 9) + 1).padStart(2, '0')}@${DEMO_DOMAIN}`;
}

/** A room list of these rooms, split in lists of at most ROOM_LIST_BUCKET (none when there are no rooms). */
function bucketed(alias: string, displayName: string, members: string[]): RoomListSeed[] {
  if (members.length <= ROOM_LIST_BUCKET) return members.length > 0 ? [{ address: `${alias}@${DEMO_DOMAIN}`, displayName, members }] : [];
  const lists: RoomListSeed[] = [];
  for (let i = 0; i * ROOM_LIST_BUCKET < members.length; i++) {
    lists.push({ address: `${alias}-${i + 1}@${DEMO_DOMAIN}`, displayName: `${displayName} (${i + 1})`, members: members.slice(i * ROOM_LIST_BUCKET, (i + 1) * ROOM_LIST_BUCKET) });
  }
  return lists;
}

/**
 * A deterministic university tenant. Same options → same seed. Events are foreign appointments calpush did not
 * create: a personal appointment, a department meeting, a room booking made in Outlook, and an event tagged by
 * another application's extended property.
 */
export function defaultTenantSeed(opts: { students?: number; staff?: number; rooms?: number; seed?: number } = {}): TenantSeed {
  const students = opts.students ?? 40;
  const staff = opts.staff ?? 8;
  const rooms = opts.rooms ?? 12;
  const random = seededRandom(opts.seed ?? 20260907);
  const name = () => `${GIVEN[Math.floor(random() * GIVEN.length)]} ${FAMILY[Math.floor(random() * FAMILY.length)]}`;

  const mailboxes: MailboxSeed[] = [];
  for (let i = 1; i <= students; i++) {
    const displayName = name();
    // The first students also have an alias (a proxy address besides their UPN), as people with a name-based address do.
    const alias = `${displayName.normalize('NFD').replace(/[^A-Za-z ]/g, '').trim().toLowerCase().replace(/\s+/g, '.')}.${i}@${DEMO_DOMAIN}`;
    mailboxes.push({ address: studentAddress(i), displayName, kind: 'user', ...(i <= 3 ? { aliases: [alias] } : {}) });
  }
  for (let i = 1; i <= staff; i++) mailboxes.push({ address: staffAddress(i), displayName: name(), kind: 'user' });
  for (let i = 1; i <= rooms; i++) {
    const address = roomAddress(i);
    const building = BUILDINGS[(i - 1) % BUILDINGS.length]!;
    const number = address.split('@')[0]!.split('-')[2]!;
    const floorNumber = Math.floor((i - 1) / BUILDINGS.length) + 1;
    // Capacities from 8 to 120 seats, the same on every run.
    const capacity = [8, 12, 20, 30, 45, 60, 80, 120][(i * 5) % 8]!;
    mailboxes.push({ address, displayName: `${building.name} ${number}`, kind: 'room', room: { capacity, building: building.name, floorNumber, floorLabel: `Floor ${floorNumber}`, label: number, tags: capacity >= 60 ? ['lecture hall'] : [] } });
  }
  // A video-conferencing equipment resource, as in Pexip's VMR Scheduling for Exchange guide, with
  // its calendar processing: "Set-CalendarProcessing -AutomateProcessing None -AllowConflicts $true
  // -BookingWindowInDays 1080 -MaximumDurationInMinutes 0 -AllowRecurringMeetings $true -EnforceSchedulingHorizon
  // $false -ScheduleOnlyDuringWorkHours $false -ConflictPercentageAllowed 100 -MaximumConflictInstances 2147483647".
  mailboxes.push({
    address: EQUIPMENT_MAILBOX,
    displayName: 'Pexip VMR Scheduling',
    kind: 'equipment',
    calendarProcessing: { automateProcessing: 'None', allowConflicts: true, bookingWindowInDays: 1080, maximumDurationInMinutes: 0, allowRecurringMeetings: true, enforceSchedulingHorizon: false, scheduleOnlyDuringWorkHours: false, conflictPercentageAllowed: 100, maximumConflictInstances: 2147483647 },
  });
  mailboxes.push({ address: OUT_OF_SCOPE_MAILBOX, displayName: 'Out of scope (board)', kind: 'user' });
  mailboxes.push({ address: UNLICENSED_MAILBOX, displayName: 'Unlicensed user', kind: 'user', state: 'restDisabled' });
  mailboxes.push({ address: NO_MAILBOX_USER, displayName: 'User without mailbox', kind: 'user', state: 'noMailbox' });

  const inScope = mailboxes.filter((m) => m.address !== OUT_OF_SCOPE_MAILBOX).map((m) => m.address);
  const apps: AppSeed[] = [
    {
      clientId: DEMO_CLIENT_ID,
      displayName: 'calpush demo',
      secrets: [DEMO_CLIENT_SECRET],
      certificates: [],
      roles: ['Calendars.ReadWrite'],
      scope: { kind: 'rbac', mailboxes: inScope },
    },
    {
      clientId: AGENT_CLIENT_ID,
      displayName: 'calpush agent',
      secrets: [AGENT_CLIENT_SECRET],
      roles: ['Calendars.ReadWrite', 'Mail.ReadWrite', 'Place.Read.All', 'GroupMember.Read.All'],
      scope: { kind: 'rbac', mailboxes: inScope },
    },
    {
      clientId: NO_PERMISSION_CLIENT_ID,
      displayName: 'calpush demo (no permissions)',
      secrets: [NO_PERMISSION_CLIENT_SECRET],
      roles: [],
      scope: { kind: 'all' },
    },
    {
      clientId: DELEGATED_CLIENT_ID,
      displayName: 'calpush delegated demo',
      secrets: [DELEGATED_CLIENT_SECRET],
      roles: [],
      scope: { kind: 'all' },
      redirectUris: [...DELEGATED_REDIRECT_URIS],
    },
  ];

  const firstStaff = mailboxes.find((m) => m.kind === 'user' && m.address.startsWith('t'));
  const firstRoom = mailboxes.find((m) => m.kind === 'room');
  const events: NonNullable<TenantSeed['events']> = [];
  // Personal appointments in the first students' calendars (made in Outlook, not by calpush).
  const personal = ['Dentist', 'Football training', 'Part-time job', 'Driving lesson', 'Doctor'];
  mailboxes
    .filter((m) => m.kind === 'user' && m.address.startsWith('s'))
    .slice(0, personal.length)
    .forEach((m, i) => {
      const day = String(7 + i).padStart(2, '0');
      events.push({
        mailbox: m.address,
        event: {
          subject: personal[i],
          body: { contentType: 'text', content: 'Personal appointment' },
          start: { dateTime: `2026-09-${day}T17:00:00`, timeZone: 'W. Europe Standard Time' },
          end: { dateTime: `2026-09-${day}T18:00:00`, timeZone: 'W. Europe Standard Time' },
          sensitivity: 'private',
          showAs: i === 0 ? 'oof' : 'busy',
        },
      });
    });
  if (firstStaff) {
    events.push({
      mailbox: firstStaff.address,
      event: {
        subject: 'Department meeting',
        start: { dateTime: '2026-09-09T12:00:00', timeZone: 'W. Europe Standard Time' },
        end: { dateTime: '2026-09-09T13:00:00', timeZone: 'W. Europe Standard Time' },
        location: { displayName: 'Staff room' },
      },
    });
    events.push({
      mailbox: firstStaff.address,
      event: {
        subject: 'Faculty day',
        isAllDay: true,
        start: { dateTime: '2026-09-11T00:00:00', timeZone: 'W. Europe Standard Time' },
        end: { dateTime: '2026-09-12T00:00:00', timeZone: 'W. Europe Standard Time' },
        showAs: 'free',
      },
    });
  }
  if (firstRoom) {
    events.push({
      mailbox: firstRoom.address,
      event: {
        subject: 'Study group (booked in Outlook)',
        start: { dateTime: '2026-09-08T13:00:00', timeZone: 'W. Europe Standard Time' },
        end: { dateTime: '2026-09-08T15:00:00', timeZone: 'W. Europe Standard Time' },
        location: { displayName: firstRoom.displayName, locationEmailAddress: firstRoom.address },
      },
    });
    // Another product's tag: same property name as a calpush-like tag, different property-set GUID.
    events.push({
      mailbox: firstRoom.address,
      event: {
        subject: 'Exam (room planning system)',
        start: { dateTime: '2026-09-10T09:00:00', timeZone: 'W. Europe Standard Time' },
        end: { dateTime: '2026-09-10T12:00:00', timeZone: 'W. Europe Standard Time' },
        singleValueExtendedProperties: [{ id: 'String {0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d} Name SyncKey', value: 'roomplanner:exam-4711' }],
      },
    });
  }
  // Room lists: one with every room (the impersonation scope) and one per building, each in buckets of at most 75
  // rooms (rooms@, or rooms-1@, rooms-2@ … past 75).
  const roomMailboxes = mailboxes.filter((m) => m.kind === 'room').map((m) => m.address);
  const roomLists: RoomListSeed[] = [
    ...bucketed('rooms', 'All rooms', roomMailboxes),
    ...BUILDINGS.flatMap((b) => bucketed(`rooms-${b.code}`, `${b.name} rooms`, roomMailboxes.filter((a) => a.startsWith(`room-${b.code}-`)))),
  ];
  const allRoomLists = roomLists.filter((l) => l.address === ALL_ROOMS_LIST || /^rooms-\d+@/.test(l.address)).map((l) => l.address);
  const ewsAccounts: EwsAccountSeed[] = [
    ...EWS_DELEGATE_ACCOUNTS.map((username) => ({ username, password: EWS_PASSWORD, delegateOf: inScope })),
    { username: EWS_IMPERSONATION_ACCOUNT, password: EWS_PASSWORD, impersonationScope: [...allRoomLists, EQUIPMENT_MAILBOX] },
    { username: EWS_SCHEDULING_ACCOUNT, password: EWS_PASSWORD, impersonationScope: inScope },
    { username: EWS_NO_RIGHTS_ACCOUNT, password: EWS_PASSWORD },
  ];
  return { tenantId: DEMO_TENANT_ID, domain: DEMO_DOMAIN, apps, mailboxes, events, ewsAccounts, roomLists, groups: demoGroups() };
}

/** The staff group: two teachers directly, a third through the nested lab group (the agent's organizers.groups). */
export const STAFF_GROUP = `staff@${DEMO_DOMAIN}`;
export const LAB_STAFF_GROUP = `lab-staff@${DEMO_DOMAIN}`;

function demoGroups(): GroupSeed[] {
  return [
    { address: STAFF_GROUP, displayName: 'All staff', members: [staffAddress(1), staffAddress(2), LAB_STAFF_GROUP] },
    { address: LAB_STAFF_GROUP, displayName: 'Lab staff', members: [staffAddress(3)] },
  ];
}
