/**
 * An agent's namespace (docs/MCP.md#namespaces): a subject prefix that keeps one agent's, team's
 * or tenant's subjects together, as Mem0's user id or Graphiti's group id do — so two projects
 * can both say `drug/aspirin` without meeting.
 *
 * The rule, one way in and one way out:
 *
 * - **In**: every subject a tool is given is relative to the namespace: `drug/aspirin` under
 *   `team/alpha` is stored and queried as `team/alpha/drug/aspirin`. A subject that starts with
 *   `/` is absolute (`/shared/glossary` is `shared/glossary`), since a stored subject never starts
 *   with one. A list pattern is prefixed the same way (`drug/*` → `team/alpha/drug/*`); a tail
 *   pattern (`*\/aspirin`) cannot be, and is refused inside a namespace.
 * - **Out**: every `subject` in a tool's answer is shown relative again when it lies inside the
 *   namespace, and absolute (with its leading `/`) when it does not — reached through an id, say
 *   a dependency in another namespace. So what a tool shows can be passed back as it is.
 *
 * It is a convenience, not access control: the API key's role and the agent's key decide what
 * an agent may do. Source ids are not namespaced: sources are shared references.
 */
import { StemeError } from "../core/errors.ts";

export class Namespace {
  private constructor(readonly prefix: string | null) {}

  static readonly none = new Namespace(null);

  /** The namespace `raw` names (undefined or empty: none); a malformed one is `invalid_path`. */
  static parse(raw: string | undefined): Namespace {
    if (raw === undefined || raw === "") return Namespace.none;
    const segments = raw.split("/");
    if (segments.some((s) => s === "" || s.includes("*")) || /\p{Cc}/u.test(raw))
      throw new StemeError("invalid_path", `namespace: expected a subject path like team/alpha, got ${JSON.stringify(raw)}`, {
        hint: "segments separated by /, none empty, no * and no leading or trailing /",
      });
    return new Namespace(raw);
  }

  /** The stored subject for a subject a tool was given. */
  stored(subject: string): string {
    if (subject.startsWith("/")) return subject.slice(1);
    return this.prefix === null ? subject : `${this.prefix}/${subject}`;
  }

  /** The stored pattern for a list filter: exact, `a/b/*` or `*\/b` (the last only outside a namespace). */
  pattern(pattern: string): string {
    if (pattern.startsWith("/") || this.prefix === null) return this.stored(pattern);
    if (pattern.startsWith("*/"))
      throw new StemeError(
        "invalid_query",
        `subject: a tail pattern (${pattern}) cannot be kept inside the namespace ${this.prefix}`,
        {
          hint: `inside a namespace use an exact subject or a prefix pattern like drug/*; /${pattern} searches every namespace`,
          extra: { field: "subject" },
        },
      );
    return this.stored(pattern);
  }

  /** The list filter when a tool gives no subject: everything inside the namespace, or no filter. */
  get everything(): string | undefined {
    return this.prefix === null ? undefined : `${this.prefix}/*`;
  }

  /** A stored subject as a tool shows it. */
  shown(subject: string): string {
    if (this.prefix === null) return subject;
    return subject.startsWith(`${this.prefix}/`) ? subject.slice(this.prefix.length + 1) : `/${subject}`;
  }

  /**
   * A copy of an API answer with every `subject` text field shown relative to the namespace.
   * Claimed values (`object`, and `value` in answers and groups) are data, not records: a key
   * named `subject` inside one is left as the agent wrote it.
   */
  present<T>(value: T): T {
    if (this.prefix === null) return value;
    const walk = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(walk);
      if (v === null || typeof v !== "object") return v;
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v))
        out[k] = k === "subject" && typeof x === "string" ? this.shown(x) : dataFields.has(k) ? x : walk(x);
      return out;
    };
    return walk(value) as T;
  }
}

/** Fields that hold claimed values rather than records. */
const dataFields = new Set(["object", "value"]);
