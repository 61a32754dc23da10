// Dropping a test's PostgreSQL replication slot: a slot can only be dropped once no walsender uses it, and the
// run that used it may still be letting go when the test cleans up, so wait (bounded) until it is idle.
/** `query` runs SQL on the shared server (a typeorm DataSource's or a pg client's). */
export async function dropSlotWhenIdle(
  query: (sql: string, params: unknown[]) => Promise<unknown>,
  slot: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const rows = (await query('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot])) as {
      active: boolean;
    }[];
    if (rows.length === 0) return;
    if (!rows[0]?.active) {
      await query('SELECT pg_drop_replication_slot($1)', [slot]);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`replication slot ${slot} still in use after ${timeoutMs} ms: not dropped`);
}
