/**
 * Counts what the Worker spends (the token routes and reconciliation), so each run can report its own cost:
 * D1 statements and the rows they read and wrote (`meta.rows_read` /
 * `meta.rows_written`, what D1 bills), and outbound fetches (subrequests).
 * One per isolate, built by the composition root; a run reports the
 * difference between two snapshots. Counts are approximate when requests of
 * the same isolate use D1 at the same time.
 */
export interface MeterReading {
  d1_queries: number;
  d1_rows_read: number;
  d1_rows_written: number;
  fetches: number;
}

export class Meter {
  #reading: MeterReading = { d1_queries: 0, d1_rows_read: 0, d1_rows_written: 0, fetches: 0 };

  read(): MeterReading {
    return { ...this.#reading };
  }

  /** What was spent since `start`. */
  since(start: MeterReading): MeterReading {
    const now = this.#reading;
    return {
      d1_queries: now.d1_queries - start.d1_queries,
      d1_rows_read: now.d1_rows_read - start.d1_rows_read,
      d1_rows_written: now.d1_rows_written - start.d1_rows_written,
      fetches: now.fetches - start.fetches,
    };
  }

  countD1(meta: { rows_read?: number; rows_written?: number } | undefined): void {
    this.#reading.d1_queries++;
    this.#reading.d1_rows_read += meta?.rows_read ?? 0;
    this.#reading.d1_rows_written += meta?.rows_written ?? 0;
  }

  countFetch(): void {
    this.#reading.fetches++;
  }

  /** `fetch`, counted. */
  fetch(): typeof fetch {
    return (input, init) => {
      this.countFetch();
      return fetch(input, init);
    };
  }

  /** The D1 database, with every statement counted (`first` is answered from `all`, which carries `meta`). */
  d1(db: D1Database): D1Database {
    const meter = this;
    const wrap = (statement: D1PreparedStatement): D1PreparedStatement =>
      ({
        bind: (...values: unknown[]) => wrap(statement.bind(...values)),
        async all<T>() {
          const result = await statement.all<T>();
          meter.countD1(result.meta);
          return result;
        },
        async run<T>() {
          const result = await statement.run<T>();
          meter.countD1(result.meta);
          return result;
        },
        async first<T>(column?: string) {
          const result = await statement.all<Record<string, unknown>>();
          meter.countD1(result.meta);
          const row = result.results[0];
          if (row === undefined) return null;
          return (column === undefined ? row : row[column]) as T;
        },
        raw: (options?: { columnNames?: boolean }) => statement.raw(options as { columnNames: true }),
        unwrap: () => statement,
      }) as unknown as D1PreparedStatement;
    return {
      prepare: (query: string) => wrap(db.prepare(query)),
      async batch<T>(statements: D1PreparedStatement[]) {
        const inner = statements.map((s) => (s as unknown as { unwrap: () => D1PreparedStatement }).unwrap());
        const results = await db.batch<T>(inner);
        for (const result of results) meter.countD1(result.meta);
        return results;
      },
      exec: (query: string) => db.exec(query),
      withSession: (...args: Parameters<D1Database['withSession']>) => db.withSession(...args),
      dump: () => (db as unknown as { dump: () => Promise<ArrayBuffer> }).dump(),
    } as unknown as D1Database;
  }
}
