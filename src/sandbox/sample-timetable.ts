// A realistic sample timetable for the demo and the benchmarks, the input a timetabling system would send: courses taught weekly in rooms, students enrolled in some of them.
// Every lecture appears in each enrolled student's calendar and in its room's calendar, as a timetabling
// system exports it. Deterministic for a given seed, anchored on the Monday after `from`.
import type { EventInput } from '../model/event.ts';
import { seededRandom } from './tenant.ts';

export interface TimetableOptions {
  students: string[];
  rooms: string[];
  from: Date;
  weeks?: number;
  coursesPerStudent?: number;
  timeZone?: string;
  seed?: number;
}

const COURSES = [
  ['MATH101', 'Calculus I'],
  ['MATH102', 'Linear Algebra'],
  ['PHYS110', 'Mechanics'],
  ['CHEM120', 'General Chemistry'],
  ['CS101', 'Introduction to Programming'],
  ['CS210', 'Data Structures'],
  ['ECON100', 'Principles of Economics'],
  ['HIST150', 'Modern European History'],
  ['BIO130', 'Cell Biology'],
  ['PSY101', 'Introduction to Psychology'],
  ['LING200', 'Phonetics & Phonology'],
  ['ART105', 'Kunstgeschichte: Renaissance'],
] as const;

const SLOTS = ['08:45', '10:45', '13:30', '15:30'] as const;
const SLOT_MINUTES = 105;

function addMinutes(time: string, minutes: number): string {
  const [h, m] = time.split(':').map(Number) as [number, number];
  const total = h * 60 + m + minutes;
  return `${String(Math.floor(total / 60)).padStart(2, '0')}:${String(total % 60).padStart(2, '0')}`;
}

function dateAfter(monday: Date, days: number): string {
  return new Date(monday.getTime() + days * 86_400_000).toISOString().slice(0, 10);
}

export function sampleTimetable(options: TimetableOptions): EventInput[] {
  const rand = seededRandom(options.seed ?? 2026);
  const weeks = options.weeks ?? 2;
  const perStudent = options.coursesPerStudent ?? 3;
  const timeZone = options.timeZone ?? 'Europe/Amsterdam';
  const day = options.from.getUTCDay();
  const monday = new Date(Date.UTC(options.from.getUTCFullYear(), options.from.getUTCMonth(), options.from.getUTCDate() + ((8 - day) % 7 || 7)));

  // Each course meets twice a week, in a fixed room and slot.
  const courses = COURSES.map(([code, title], index) => ({
    code,
    title,
    room: options.rooms[index % options.rooms.length]!,
    meetings: [
      { weekday: index % 5, slot: SLOTS[index % SLOTS.length]! },
      { weekday: (index + 2) % 5, slot: SLOTS[(index + 1) % SLOTS.length]! },
    ],
  }));
  const enrolment = new Map<string, string[]>();
  for (const student of options.students) {
    const picked = new Set<number>();
    while (picked.size < Math.min(perStudent, courses.length)) picked.add(Math.floor(rand() * courses.length));
    enrolment.set(student, [...picked].map((i) => courses[i]!.code));
  }

  const events: EventInput[] = [];
  for (const course of courses) {
    const attendees = options.students.filter((s) => enrolment.get(s)!.includes(course.code));
    for (let week = 0; week < weeks; week++) {
      for (const [n, meeting] of course.meetings.entries()) {
        const date = dateAfter(monday, week * 7 + meeting.weekday);
        const id = `${course.code}-${date}-${n}`;
        const lecture = {
          id,
          subject: `${course.code} ${course.title}`,
          body: `Lecture ${week * 2 + n + 1} of ${course.title}. Room ${course.room.split('@')[0]}.`,
          start: `${date}T${meeting.slot}`,
          end: `${date}T${addMinutes(meeting.slot, SLOT_MINUTES)}`,
          timeZone,
          location: course.room.split('@')[0]!,
          categories: ['Timetable'],
          showAs: 'busy' as const,
        };
        for (const student of attendees) events.push({ calendar: student, ...lecture });
        events.push({ calendar: course.room, ...lecture, subject: `${course.code} (${attendees.length} students)` });
      }
    }
  }
  // An all-day event: the exam week that follows, for every student.
  for (const student of options.students) {
    events.push({ calendar: student, id: 'exam-week', subject: 'Exam week', allDay: true, start: dateAfter(monday, weeks * 7), end: dateAfter(monday, weeks * 7 + 5), showAs: 'free', categories: ['Timetable'] });
  }
  return events;
}
