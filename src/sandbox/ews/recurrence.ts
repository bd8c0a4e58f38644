// A series' Graph patternedRecurrence written as EWS's t:RecurrenceType (types.xsd: RecurrencePatternTypes then
// RecurrenceRangeTypes): https://learn.microsoft.com/exchange/client-developer/web-service-reference/recurrence-recurrencetype
// — DailyRecurrence / WeeklyRecurrence / AbsoluteMonthlyRecurrence / RelativeMonthlyRecurrence /
// AbsoluteYearlyRecurrence / RelativeYearlyRecurrence, then NoEndRecurrence / EndDateRecurrence / NumberedRecurrence.
// A MeetingRequest of a series carries it (MeetingRequestMessageType.Recurrence); the sandbox writes it when the
// request's item is read by GetItem (not by FindItem or SyncFolderItems, which do not return Recurrence).
import { tEl } from './xml.ts';

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

interface GraphRecurrence {
  pattern?: { type?: string; interval?: number; daysOfWeek?: string[]; dayOfMonth?: number; month?: number; index?: string; firstDayOfWeek?: string };
  range?: { type?: string; startDate?: string; endDate?: string; numberOfOccurrences?: number };
}

const title = (word: string | undefined) => (word ? word[0]!.toUpperCase() + word.slice(1).toLowerCase() : '');

/** `<t:Recurrence>…</t:Recurrence>`, or '' when the recurrence is none or of no pattern EWS has. */
export function recurrenceXml(value: unknown): string {
  const recurrence = value as GraphRecurrence | null | undefined;
  const pattern = recurrence?.pattern;
  const range = recurrence?.range;
  if (!pattern || !range?.startDate) return '';
  const interval = tEl('Interval', Math.max(1, pattern.interval ?? 1));
  const days = (pattern.daysOfWeek ?? []).map(title).join(' ');
  const month = tEl('Month', MONTHS[(pattern.month ?? 1) - 1] ?? 'January');
  const index = tEl('DayOfWeekIndex', title(pattern.index ?? 'first'));
  const patterns: Record<string, string> = {
    daily: `<t:DailyRecurrence>${interval}</t:DailyRecurrence>`,
    weekly: `<t:WeeklyRecurrence>${interval}${tEl('DaysOfWeek', days)}${pattern.firstDayOfWeek ? tEl('FirstDayOfWeek', title(pattern.firstDayOfWeek)) : ''}</t:WeeklyRecurrence>`,
    absoluteMonthly: `<t:AbsoluteMonthlyRecurrence>${interval}${tEl('DayOfMonth', pattern.dayOfMonth ?? 1)}</t:AbsoluteMonthlyRecurrence>`,
    relativeMonthly: `<t:RelativeMonthlyRecurrence>${interval}${tEl('DaysOfWeek', days.split(' ')[0] || 'Monday')}${index}</t:RelativeMonthlyRecurrence>`,
    absoluteYearly: `<t:AbsoluteYearlyRecurrence>${tEl('DayOfMonth', pattern.dayOfMonth ?? 1)}${month}</t:AbsoluteYearlyRecurrence>`,
    relativeYearly: `<t:RelativeYearlyRecurrence>${tEl('DaysOfWeek', days.split(' ')[0] || 'Monday')}${index}${month}</t:RelativeYearlyRecurrence>`,
  };
  const written = patterns[pattern.type ?? ''];
  if (!written) return '';
  const start = tEl('StartDate', range.startDate);
  const ranges: Record<string, string> = {
    noEnd: `<t:NoEndRecurrence>${start}</t:NoEndRecurrence>`,
    endDate: `<t:EndDateRecurrence>${start}${tEl('EndDate', range.endDate ?? range.startDate)}</t:EndDateRecurrence>`,
    numbered: `<t:NumberedRecurrence>${start}${tEl('NumberOfOccurrences', Math.max(1, range.numberOfOccurrences ?? 1))}</t:NumberedRecurrence>`,
  };
  return `<t:Recurrence>${written}${ranges[range.type ?? ''] ?? ranges['noEnd']}</t:Recurrence>`;
}
