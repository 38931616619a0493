// Protocol-level prepared statements across server switches (transaction and statement mode).
// A client's named Parse is kept per client; on the server it is prepared under a name derived
// from its text and parameter types (PODKIT_<n>), shared by every client that prepares the same
// statement, so a server prepares each distinct statement once.

export interface ClientStatement {
  /** Server-side id: the statement is named `PODKIT_<id>` on servers. */
  id: number
  /** The Parse body after the statement name: query, parameter count and types. */
  rest: Buffer
}

export class StatementRegistry {
  private readonly ids = new Map<string, number>()
  private next = 1

  /** The id for a Parse body; the same text and types give the same id. */
  idFor(rest: Buffer): number {
    const key = rest.toString('latin1')
    let id = this.ids.get(key)
    if (id === undefined) {
      id = this.next++
      this.ids.set(key, id)
    }
    return id
  }

  get size() {
    return this.ids.size
  }
}

export const serverStatementName = (id: number) => `PODKIT_${id}`
