// The tail source: finds files by glob (at start, on directory watch events and every refreshInterval),
// follows each with a FileTailer, keeps the positions file, and pauses every reader while the
// bytes read but not yet acknowledged exceed memBufLimit (backpressure: never drop).

import { open, readdir, stat } from 'node:fs/promises'
import { basename } from 'node:path'
import type { Logger } from '@podkit/runtime'
import type { PipelineMetrics } from '../metrics.ts'
import type { TailChunk } from './chunk.ts'
import { DirWatch } from './dir-watch.ts'
import { type FileStatus, FileTailer } from './file-tailer.ts'
import { type CompiledGlob, compileGlob, expandTag, splitGlobList } from './glob.ts'
import { fileKey, type PositionEntry, PositionsFile } from './positions.ts'

export interface TailOptions {
  /** Globs of files to follow: a list, or Fluent Bit's comma-separated `Path`. */
  path: string | readonly string[]
  /** Globs of files to leave alone (`Exclude_Path`); a pattern without `/` matches the file name. */
  exclude?: string | readonly string[]
  /** Tag of every event; `*` expands to the path with `/` replaced by `.`. Default `tail.*`. */
  tag?: string
  /** Read files found at start (with no saved position) from the beginning rather than the end. Default false. */
  readFromHead?: boolean
  /** How often to look for new files, in ms (`Refresh_Interval`). Default 10000. */
  refreshInterval?: number
  /** How often a file at EOF is checked for growth, truncation and rotation, in ms. Default 250. */
  pollInterval?: number
  /** Size of each read (`Buffer_Chunk_Size`). Default 256 KiB. */
  bufferChunkSize?: number
  /** Longest line kept whole (`Buffer_Max_Size`); longer lines are truncated or skipped. Default 32 KiB. */
  bufferMaxSize?: number
  /** Skip over-long lines instead of truncating them (`Skip_Long_Lines`). Default false. */
  skipLongLines?: boolean
  /** Drop zero-length lines (as Fluent Bit does). Default true. */
  skipEmptyLines?: boolean
  /** Bytes read but not yet acknowledged before reading pauses (`Mem_Buf_Limit`). Default 32 MiB. */
  memBufLimit?: number
  /** Positions file (`DB`); offsets survive restarts only with one. */
  positionsFile?: string
  /**
   * How often changed positions are written, in ms. Default 1000. 0: after every acknowledged
   * batch (the pipeline waits for the write before sending the next batch), so a `kill -9`
   * repeats at most the batch that was in flight.
   */
  positionsInterval?: number
  /** fsync the positions file on each write (survives a node crash, not only a process kill). Default true. */
  positionsFsync?: boolean
  /** How long a rotated file is still read after it stopped growing, in ms (`Rotate_Wait`). Default 5000. */
  rotateWait?: number
  /** How long a last line without newline waits for its newline before it is passed on, in ms. Default 1000. */
  flushTimeout?: number
  /** Watch the globs' directories (fs.watch) for new files between refreshes. Default true. */
  watch?: boolean
  /**
   * A file found whose last change (mtime) is older than this many ms is not followed
   * (`Ignore_Older`); a file already followed stays. Its saved position is kept, so it resumes
   * where it was if it is written again. Default 0: no limit.
   */
  ignoreOlder?: number
  /** Decides whether a matching file is followed at all (`Tag_Regex` leaves out files it does not match). */
  accept?: (path: string) => boolean
  logger?: Logger
  metrics?: PipelineMetrics
}

export type ResolvedTailOptions = Required<
  Omit<TailOptions, 'logger' | 'metrics' | 'positionsFile' | 'exclude' | 'accept'>
> & {
  positionsFile?: string
  accept?: (path: string) => boolean
}

export type ChunkHandler = (chunk: TailChunk) => void

export class TailSource {
  readonly options: ResolvedTailOptions
  readonly logger: Logger | undefined
  readonly metrics: PipelineMetrics | undefined
  positions: PositionsFile | undefined
  stopping = false
  private readonly includes: CompiledGlob[]
  private readonly excludes: Array<{ regex: RegExp; nameOnly: boolean }>
  private readonly tailers = new Map<string, FileTailer>()
  private handler: ChunkHandler | undefined
  private buffered = 0
  private roomWaiters: Array<() => void> = []
  private sleepers = new Set<() => void>()
  private timers: NodeJS.Timeout[] = []
  private dirWatch: DirWatch | undefined
  private scanning: Promise<void> | undefined
  private rescanQueued = false
  private longLineLogged = new Map<string, number>()
  private pauseListeners: Array<() => void> = []
  /** Offsets of finished rotated files, kept while a glob still matches them (with or without a positions file). */
  private finished = new Map<string, number>()

  constructor(opts: TailOptions) {
    const include = splitGlobList(opts.path)
    if (include.length === 0) throw new TypeError('tail source: `path` names no file pattern')
    this.options = {
      path: include,
      tag: opts.tag ?? 'tail.*',
      readFromHead: opts.readFromHead ?? false,
      refreshInterval: opts.refreshInterval ?? 10_000,
      pollInterval: opts.pollInterval ?? 250,
      // A read must leave room under the limit for the next one, or a record still waiting for
      // its continuation lines (holding the last chunk) could stall reading until its timeout.
      bufferChunkSize: Math.max(
        4096,
        Math.min(opts.bufferChunkSize ?? 256 * 1024, Math.floor((opts.memBufLimit ?? 32 * 1024 * 1024) / 4)),
      ),
      bufferMaxSize: opts.bufferMaxSize ?? 32 * 1024,
      skipLongLines: opts.skipLongLines ?? false,
      skipEmptyLines: opts.skipEmptyLines ?? true,
      memBufLimit: opts.memBufLimit ?? 32 * 1024 * 1024,
      positionsFile: opts.positionsFile,
      positionsInterval: opts.positionsInterval ?? 1000,
      positionsFsync: opts.positionsFsync ?? true,
      rotateWait: opts.rotateWait ?? 5000,
      flushTimeout: opts.flushTimeout ?? 1000,
      watch: opts.watch ?? true,
      ignoreOlder: opts.ignoreOlder ?? 0,
      accept: opts.accept,
    }
    this.logger = opts.logger
    this.metrics = opts.metrics
    this.includes = include.map(compileGlob)
    this.excludes = splitGlobList(opts.exclude).map((p) => ({
      regex: compileGlob(p).regex,
      nameOnly: !p.includes('/'),
    }))
    if (this.options.positionsFile) {
      this.positions = new PositionsFile(this.options.positionsFile, { fsync: this.options.positionsFsync })
    }
  }

  /** Loads positions, finds the files and starts reading; every chunk goes to `handler`. */
  async start(handler: ChunkHandler): Promise<void> {
    this.handler = handler
    await this.positions?.load()
    if (this.options.watch) {
      this.dirWatch = new DirWatch(
        () => this.rescanSoon(),
        (err, dir) => this.logger?.debug({ err, dir }, 'Cannot watch a directory; relying on refresh.'),
      )
    }
    await this.scan(true)
    const { refreshInterval, positionsInterval } = this.options
    this.timers.push(setInterval(() => this.rescanSoon(), refreshInterval))
    if (this.positions && positionsInterval > 0) {
      this.timers.push(
        setInterval(() => {
          this.positions!.save().catch((err) => this.logger?.error({ err }, 'Saving positions failed.'))
        }, positionsInterval),
      )
    }
    this.timers.push(setInterval(() => this.updateGauges(), 1000))
    for (const t of this.timers) t.unref()
  }

  /** Stops reading (lines already handed on can still be acknowledged); resolves when readers stopped. */
  async stop(): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    for (const t of this.timers) clearInterval(t)
    this.timers = []
    this.dirWatch?.close()
    for (const wake of this.sleepers) wake()
    for (const wake of this.roomWaiters) wake()
    this.roomWaiters = []
    await Promise.all([...this.tailers.values()].map((t) => t.done))
    await this.scanning
  }

  /** Stops, closes the files and writes the positions of everything acknowledged so far. */
  async close(): Promise<void> {
    await this.stop()
    for (const t of [...this.tailers.values()]) await t.close(false)
    await this.positions?.save()
  }

  /** Writes positions now (the periodic save does this every positionsInterval). */
  async savePositions(): Promise<void> {
    await this.positions?.save()
  }

  files(): FileStatus[] {
    return [...this.tailers.values()].map((t) => t.status())
  }

  /** Bytes of followed files not yet acknowledged. */
  lagBytes(): number {
    let lag = 0
    for (const t of this.tailers.values()) lag += Math.max(0, t.size - t.committed)
    return lag
  }

  bufferedBytes(): number {
    return this.buffered
  }

  // ---- called by FileTailer ----

  deliver(chunk: TailChunk): void {
    try {
      this.handler!(chunk)
    } catch (err) {
      this.logger?.error({ err, path: chunk.path }, 'The chunk handler threw; its lines stay unacknowledged.')
    }
  }

  overLimit(): boolean {
    return this.buffered >= this.options.memBufLimit
  }

  /** Called when reading pauses on backpressure: a consumer should hand on what it buffers now. */
  onBackpressure(listener: () => void): void {
    this.pauseListeners.push(listener)
  }

  waitForRoom(): Promise<void> {
    if (this.stopping || !this.overLimit()) return Promise.resolve()
    this.metrics?.paused.set(1)
    for (const l of this.pauseListeners) l()
    if (this.stopping || !this.overLimit()) return Promise.resolve()
    return new Promise((resolve) => this.roomWaiters.push(resolve))
  }

  addBuffered(delta: number): void {
    this.buffered += delta
    if (delta < 0 && this.roomWaiters.length > 0 && !this.overLimit()) {
      const waiters = this.roomWaiters
      this.roomWaiters = []
      this.metrics?.paused.set(0)
      for (const w of waiters) w()
    }
  }

  sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve()
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer)
        this.sleepers.delete(wake)
        resolve()
      }
      const timer = setTimeout(wake, ms)
      this.sleepers.add(wake)
    })
  }

  longLines(path: string, count: number): void {
    const action = this.options.skipLongLines ? 'skipped' : 'truncated'
    this.metrics?.longLines.inc({ action }, count)
    // One warning per file per minute: a file full of long lines must not flood the logs.
    const last = this.longLineLogged.get(path) ?? 0
    if (Date.now() - last > 60_000) {
      this.longLineLogged.set(path, Date.now())
      this.logger?.warn(
        { path, count, maxLineBytes: this.options.bufferMaxSize, action },
        `Lines longer than the maximum line size were ${action}.`,
      )
    }
  }

  forget(tailer: FileTailer, finished: boolean): void {
    if (this.tailers.get(tailer.key) === tailer) this.tailers.delete(tailer.key)
    // A finished rotated file keeps its entry until a scan no longer finds it, so that a rotated
    // name that still matches the glob is not read again from the start.
    if (finished) {
      this.positions?.set(tailer.key, tailer.path, tailer.committed)
      this.finished.set(tailer.key, tailer.committed)
    }
    this.metrics?.filesWatched.set(this.tailers.size)
  }

  rescanSoon(): void {
    if (this.stopping) return
    if (this.scanning) {
      this.rescanQueued = true
      return
    }
    void this.scan(false)
  }

  // ---- discovery ----

  private async scan(initial: boolean): Promise<void> {
    const run = (async () => {
      const found = new Map<string, { path: string; size: number; mtimeMs: number }>()
      const dirs = new Set<string>()
      for (const g of this.includes) await this.walk(g.base, g, 0, found, dirs)
      // Watch the directories walked, where a matching file can appear (as deep as the pattern reaches).
      if (!this.stopping) this.dirWatch?.update(dirs)
      this.adoptMovedPositions(found)
      const { ignoreOlder, accept } = this.options
      const oldest = ignoreOlder > 0 ? Date.now() - ignoreOlder : 0
      for (const [key, f] of found) {
        if (this.stopping) break
        if (this.tailers.has(key)) continue
        // Not followed, but still found: a saved position is kept for when it is written again.
        if (f.mtimeMs < oldest || (accept && !accept(f.path))) continue
        await this.follow(key, f.path, f.size, initial)
      }
      // Forget positions of files that are gone (or no longer match), except those still open.
      for (const key of this.finished.keys()) if (!found.has(key)) this.finished.delete(key)
      if (this.positions) {
        for (const key of Object.keys(this.positions.snapshot().files)) {
          if (!found.has(key) && !this.tailers.has(key)) this.positions.delete(key)
        }
      }
      this.metrics?.filesWatched.set(this.tailers.size)
    })()
    this.scanning = run.catch((err) => this.logger?.error({ err }, 'Looking for files failed.'))
    await this.scanning
    this.scanning = undefined
    if (this.rescanQueued && !this.stopping) {
      this.rescanQueued = false
      void this.scan(false)
    }
  }

  private async walk(
    dir: string,
    g: CompiledGlob,
    depth: number,
    found: Map<string, { path: string; size: number; mtimeMs: number }>,
    dirs: Set<string>,
  ): Promise<void> {
    let entries: import('node:fs').Dirent[]
    try {
      entries = await readdir(dir, { withFileTypes: true })
    } catch {
      return
    }
    dirs.add(dir)
    for (const e of entries) {
      const p = dir.endsWith('/') ? dir + e.name : `${dir}/${e.name}`
      if (e.isDirectory()) {
        if (depth + 1 < g.depth) await this.walk(p, g, depth + 1, found, dirs)
        continue
      }
      if (!g.regex.test(p) || this.excluded(p)) continue
      try {
        // stat, not lstat: Kubernetes' /var/log/containers entries are symlinks.
        const st = await stat(p)
        if (st.isFile()) found.set(fileKey(st), { path: p, size: st.size, mtimeMs: st.mtimeMs })
      } catch {
        // gone between readdir and stat
      }
    }
  }

  /**
   * Positions are keyed by device and inode, but a volume attached again (a node reboot, a CSI
   * re-attach) can come back under another device number with the same inodes. Fluent Bit keys its
   * DB by inode alone and resumes; so do we when a file found has no position of its own and an
   * entry for the same inode and the same path on another device is not a file found or followed
   * now: that entry is the file's position, moved to its new key. Requiring the path keeps two
   * files with one inode number on two devices apart.
   */
  private adoptMovedPositions(found: Map<string, { path: string }>): void {
    const positions = this.positions
    if (!positions) return
    // Saved entries by inode, built once per scan (a node can hold thousands of files).
    let byIno: Map<string, Array<[string, PositionEntry]>> | undefined
    const inoOf = (key: string) => key.slice(key.indexOf(':') + 1)
    for (const [key, f] of found) {
      if (this.tailers.has(key) || positions.get(key)) continue
      if (!byIno) {
        byIno = new Map()
        for (const [k, e] of Object.entries(positions.snapshot().files)) {
          const list = byIno.get(inoOf(k)) ?? []
          list.push([k, e])
          byIno.set(inoOf(k), list)
        }
      }
      const candidates = byIno.get(inoOf(key))
      if (!candidates) continue
      const i = candidates.findIndex(
        ([other, entry]) =>
          other !== key && entry.path === f.path && !found.has(other) && !this.tailers.has(other),
      )
      if (i < 0) continue
      const [other, entry] = candidates[i]!
      candidates.splice(i, 1)
      positions.delete(other)
      positions.set(key, entry.path, entry.offset)
      this.logger?.info(
        { path: f.path, from: other, to: key },
        'The file is on another device number now (same path and inode): its position carries over.',
      )
    }
  }

  private excluded(p: string): boolean {
    const name = basename(p)
    return this.excludes.some((x) => x.regex.test(x.nameOnly ? name : p))
  }

  private async follow(key: string, path: string, size: number, initial: boolean): Promise<void> {
    let fh: import('node:fs/promises').FileHandle
    try {
      fh = await open(path, 'r')
      if (fileKey(await fh.stat()) !== key) {
        await fh.close()
        return // replaced between stat and open; the next scan sees the new one
      }
    } catch (err) {
      this.logger?.warn({ err, path }, 'Cannot open a matching file; will retry on the next scan.')
      return
    }
    const finishedAt = this.finished.get(key)
    const saved =
      this.positions?.get(key) ?? (finishedAt === undefined ? undefined : { path, offset: finishedAt })
    let offset: number
    if (saved) offset = saved.offset <= size ? saved.offset : 0
    else if (initial && !this.options.readFromHead) offset = size
    else offset = 0
    const tailer = new FileTailer(this, fh, key, path, expandTag(this.options.tag, path), offset)
    this.tailers.set(key, tailer)
    this.positions?.set(key, path, offset)
    this.logger?.info({ path, offset, resumed: saved !== undefined }, 'Following a file.')
    tailer.start()
  }

  private updateGauges(): void {
    if (!this.metrics) return
    this.metrics.lagBytes.set(this.lagBytes())
    this.metrics.bufferedBytes.set(this.buffered)
    this.metrics.filesWatched.set(this.tailers.size)
  }
}
