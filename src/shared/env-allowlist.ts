/**
 * Which environment variables a provider's `env:NAME` upstream key may name: only those the
 * operator listed (`OPENAI_API_KEY`, or a prefix `OPENAI_*`), and never one of Tollgate's own
 * settings or its database's (`TOLLGATE_*`, `DATABASE_URL`, `REDIS_URL`, `PG*`, ...), whatever
 * the list says: a project ADMIN must not be able to have the server send those anywhere.
 */
export class EnvAllowlist {
  private readonly names = new Set<string>();
  private readonly prefixes: string[] = [];

  /** Throws when an entry is malformed or names a reserved variable outright. */
  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const prefix = entry.endsWith('*');
      const name = prefix ? entry.slice(0, -1) : entry;
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !(prefix && name === '')) {
        throw new Error(`"${entry}" is not a variable name or a NAME_* prefix`);
      }
      if (!prefix && isReserved(name)) throw new Error(`${name} is one of Tollgate's own settings`);
      if (prefix) this.prefixes.push(name);
      else this.names.add(name);
    }
  }

  allows(name: string): boolean {
    if (isReserved(name)) return false;
    return this.names.has(name) || this.prefixes.some((p) => name.startsWith(p));
  }

  /** What the operator allows, for error messages. */
  describe(): string {
    const all = [...this.names, ...this.prefixes.map((p) => `${p}*`)];
    return all.length === 0 ? 'none' : all.join(', ');
  }
}

const RESERVED_NAMES = new Set(['DATABASE_URL', 'REDIS_URL', 'HOST', 'PORT', 'LOG_LEVEL']);
const RESERVED_PREFIXES = ['TOLLGATE_', 'PG', 'OTEL_', 'NODE_', 'npm_'];

function isReserved(name: string): boolean {
  return RESERVED_NAMES.has(name) || RESERVED_PREFIXES.some((p) => name.startsWith(p));
}
