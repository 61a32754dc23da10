export declare function prisonNumber(n: number): string;
export declare function seedLegacyDatabase(
  path: string,
  options?: { rows?: number; badEvery?: number },
): void;
export declare function renameOffender(path: string, offenderId: number, surname: string, at?: Date): void;
