// One scrape target: a source (nginx, apache, ...) at a URI. Concurrent scrapes are coalesced
// honestly: a scrape never reuses a fetch that began before it arrived; it joins the next fetch,
// which starts when the one in flight ends or after the coalescing window, whichever is first.

import { type Logger, nowMs } from '@podkit/runtime'
import { FetchConnectError, type FetchError } from './errors.ts'
import { type AdapterMetrics, FETCH_ERROR_KINDS } from './metrics.ts'
import type { ScrapeUri } from './scrape-uri.ts'
import type { Sample, Source } from './source.ts'
import { asFetchError, asParseError, type FetcherOptions, StatusFetcher } from './status-fetcher.ts'

export type TargetResult = { ok: true; samples: Sample[] } | { ok: false; error: FetchError }

export interface TargetOptions extends FetcherOptions {
  /** How long a scrape may wait for a fetch in flight to end before its own starts; 0 disables. */
  coalesceWindow: number
  /** The value of the `addr` label when several targets of one source are scraped. */
  addr?: string
  logger: Logger
  metrics: AdapterMetrics
  /** Repeat a log line about an unchanged failure at most this often (ms). */
  repeatLogEvery?: number
}

const CLOSED: TargetResult = { ok: false, error: new FetchConnectError('the adapter is shutting down') }

interface Pending {
  promise: Promise<TargetResult>
  start: () => void
  timer: NodeJS.Timeout | undefined
}

export class Target {
  readonly source: Source
  readonly uri: ScrapeUri
  readonly addr: string
  private readonly fetcher: StatusFetcher
  private readonly window: number
  private readonly logger: Logger
  private readonly repeatEvery: number
  private inFlight: Promise<TargetResult> | undefined
  private pending: Pending | undefined
  private readonly m: {
    duration: ReturnType<AdapterMetrics['scrapeDuration']['labels']>
    fetches: ReturnType<AdapterMetrics['fetches']['labels']>
    coalesced: ReturnType<AdapterMetrics['coalesced']['labels']>
    errors: Map<string, ReturnType<AdapterMetrics['scrapeErrors']['labels']>>
  }
  private closing = false
  private lastCause: string | undefined
  private lastLogAt = 0
  /** Whether the last finished fetch succeeded; undefined before the first. */
  up: boolean | undefined

  constructor(source: Source, uri: ScrapeUri, opts: TargetOptions) {
    this.source = source
    this.uri = uri
    this.addr = opts.addr ?? uri.display
    this.fetcher = new StatusFetcher(uri, opts)
    this.window = opts.coalesceWindow
    this.logger = opts.logger
    this.repeatEvery = opts.repeatLogEvery ?? 60_000
    const labels = { target: uri.display, source: source.name }
    const errors = new Map<string, ReturnType<AdapterMetrics['scrapeErrors']['labels']>>()
    for (const type of FETCH_ERROR_KINDS) {
      const child = opts.metrics.scrapeErrors.labels({ ...labels, type })
      child.inc(0) // present from the start, so rate() sees the first error
      errors.set(type, child)
    }
    this.m = {
      duration: opts.metrics.scrapeDuration.labels(labels),
      fetches: opts.metrics.fetches.labels(labels),
      coalesced: opts.metrics.coalesced.labels(labels),
      errors,
    }
    this.m.fetches.inc(0)
    this.m.coalesced.inc(0)
  }

  /** The samples of a fetch that started after this call, or the error that stopped it. */
  scrape(): Promise<TargetResult> {
    // Draining: answer up 0 without a fetch, a log line or an error count.
    if (this.closing) return Promise.resolve(CLOSED)
    if (this.window <= 0) return this.fetchNow()
    if (this.pending) {
      this.m.coalesced.inc()
      return this.pending.promise
    }
    if (!this.inFlight) return this.fetchNow()
    // A fetch is in flight but began before this scrape: queue the next one.
    let start!: () => void
    const promise = new Promise<TargetResult>((resolve) => {
      start = () => {
        if (this.pending?.promise !== promise) return
        clearTimeout(this.pending.timer)
        this.pending = undefined
        resolve(this.fetchNow())
      }
    })
    const pending: Pending = { promise, start, timer: undefined }
    pending.timer = setTimeout(start, this.window)
    this.pending = pending
    return promise
  }

  private fetchNow(): Promise<TargetResult> {
    const t0 = nowMs()
    this.m.fetches.inc()
    const p: Promise<TargetResult> = this.fetcher.fetch().then(
      (body) => {
        let result: TargetResult
        try {
          result = { ok: true, samples: this.source.parse(body) }
        } catch (err) {
          result = { ok: false, error: asParseError(err) }
        }
        return this.finish(p, t0, result)
      },
      (err) => this.finish(p, t0, { ok: false, error: asFetchError(err) }),
    )
    this.inFlight = p
    return p
  }

  private finish(p: Promise<TargetResult>, t0: number, result: TargetResult): TargetResult {
    this.m.duration.observe((nowMs() - t0) / 1000)
    if (this.inFlight === p) this.inFlight = undefined
    // The queued fetch may start now: the one it waited for is over.
    this.pending?.start()
    if (result.ok) {
      if (this.up !== true) {
        this.logger.info(
          { target: this.uri.display, source: this.source.name },
          this.up === false ? 'The target answers again.' : 'The target answers.',
        )
      }
      this.up = true
      this.lastCause = undefined
    } else {
      this.m.errors.get(result.error.kind)?.inc()
      this.noteFailure(result.error)
      this.up = false
    }
    return result
  }

  private noteFailure(error: FetchError): void {
    const cause = `${error.kind}: ${error.message}`
    const now = Date.now()
    if (cause === this.lastCause && now - this.lastLogAt < this.repeatEvery) return
    this.lastCause = cause
    this.lastLogAt = now
    this.logger.warn(
      {
        target: this.uri.display,
        source: this.source.name,
        type: error.kind,
        code: error.code,
        cause: error.message,
      },
      `Scraping ${this.uri.display} failed (${error.kind}): ${error.message}. ${this.source.up.name} is 0 until it answers.`,
    )
  }

  async close(): Promise<void> {
    this.closing = true
    // Let fetches in flight or queued finish, then close the connections.
    const waits = [this.inFlight, this.pending?.promise].filter(Boolean)
    this.pending?.start()
    await Promise.allSettled(waits)
    this.fetcher.close()
  }
}
