// Types of court-list.mjs for the TypeScript tests.
export interface Hearing {
  ref: string;
  court: string;
  room: string;
  sittingDate: string;
  listNo: number;
  caseNo: string;
  type: string;
  surname: string;
  forename: string;
  dob: string;
}
export declare const HEARING_TYPES: string[];
export declare function courtList(sittingDate: string, hearings?: number): Hearing[];
export declare function correctList(
  hearings: Hearing[],
  seed: number,
  options?: { changes?: number; removals?: number },
): { hearings: Hearing[]; changed: string[]; removed: string[] };
export declare function toCsv(hearings: Hearing[]): string;
export declare function toFixedWidth(hearings: Hearing[], sittingDate: string): string;
export declare const CSV_HEADER: string[];
export declare const FIXED_WIDTH_DETAIL: { name: string; start: number; length: number }[];
