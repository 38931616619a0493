// Test helpers: a sink that keeps what it was given and can hold or fail writes on demand.
import type { LogEvent, Sink } from '../src/index.ts'

export class MemorySink implements Sink {
  readonly name = 'memory'
  readonly events: LogEvent[] = []
  writes = 0
  /** While set, writes wait for it. */
  gate: Promise<void> | undefined
  /** Fail this many writes first (retryable). */
  failures = 0
  /** Delay each write by this many ms. */
  delayMs = 0

  async write(events: readonly LogEvent[]): Promise<void> {
    this.writes++
    if (this.failures > 0) {
      this.failures--
      throw Object.assign(new Error('temporary failure'), { retryable: true })
    }
    if (this.gate) await this.gate
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs))
    this.events.push(...events)
  }

  lines(key = 'log'): string[] {
    return this.events.map((e) => String(e.record[key]))
  }
}
