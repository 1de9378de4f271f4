/**
 * The index's SQLite handle as readers see it: every query first asks whether damage is
 * already known (then it is refused without touching the file), and an error by which SQLite
 * says the file is damaged becomes the `index_damaged` problem — and marks the index damaged,
 * so every later read is refused too. Readers anywhere (list, provenance, bundle closure) get
 * this behaviour without handling it themselves.
 */
import type { Database, SQLQueryBindings, Statement } from "bun:sqlite";

/** What a guarded handle asks of its owner (the IndexStore). */
export interface DamageGuard {
  /** Throws the damage problem when damage is already known. */
  assertSound(): void;
  /** The error to throw for `err`, met while `doing` (index_damaged when SQLite found damage). */
  translate(err: unknown, doing: string): unknown;
}

export class GuardedDb {
  constructor(
    private readonly db: Database,
    private readonly guard: DamageGuard,
  ) {}

  query(sql: string): GuardedStatement {
    this.guard.assertSound();
    try {
      return new GuardedStatement(this.db.query(sql), this.guard, sql);
    } catch (err) {
      throw this.guard.translate(err, sql);
    }
  }

  exec(sql: string): void {
    this.guard.assertSound();
    try {
      this.db.exec(sql);
    } catch (err) {
      throw this.guard.translate(err, sql);
    }
  }
}

export class GuardedStatement {
  constructor(
    private readonly statement: Statement,
    private readonly guard: DamageGuard,
    private readonly sql: string,
  ) {}

  all(...params: SQLQueryBindings[]): unknown[] {
    this.guard.assertSound();
    try {
      return this.statement.all(...params);
    } catch (err) {
      throw this.guard.translate(err, this.sql);
    }
  }

  get(...params: SQLQueryBindings[]): unknown {
    this.guard.assertSound();
    try {
      return this.statement.get(...params);
    } catch (err) {
      throw this.guard.translate(err, this.sql);
    }
  }

  *iterate(...params: SQLQueryBindings[]): IterableIterator<unknown> {
    this.guard.assertSound();
    const rows = this.statement.iterate(...params);
    for (;;) {
      let next: IteratorResult<unknown>;
      try {
        next = rows.next();
      } catch (err) {
        throw this.guard.translate(err, this.sql);
      }
      if (next.done) return;
      yield next.value;
    }
  }
}
