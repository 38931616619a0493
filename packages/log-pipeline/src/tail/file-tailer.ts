// Follows one file (one device+inode): reads large chunks into a reused Buffer, splits lines on
// 0x0a, handles CRLF, long lines, a final line without newline, copytruncate and rename rotation,
// and commits offsets in file order as chunks are acknowledged.

import type { FileHandle } from 'node:fs/promises'
import { stat } from 'node:fs/promises'
import type { ChunkState, TailChunk } from './chunk.ts'
import { fileKey } from './positions.ts'
import type { TailSource } from './tail-source.ts'

const LF = 0x0a
const CR = 0x0d

export interface FileStatus {
  path: string
  key: string
  tag: string
  readOffset: number
  committedOffset: number
  size: number
  rotated: boolean
}

export class FileTailer {
  readonly key: string
  readonly tag: string
  path: string
  /** Offset of the next read. */
  private readPos: number
  /** Offset up to which every line is acknowledged. */
  committed: number
  size = 0
  private generation = 0
  /**
   * The read buffer, twice the read size: the start of a line whose newline has not been read
   * yet stays at its head (`held` bytes) and the next read lands right after it, so steady-state
   * reading allocates no Buffer (a copy per read churned malloc's heap by several MiB).
   */
  private work: Buffer = Buffer.alloc(0)
  private held = 0
  /** A partial line longer than one read (rare): kept outside `work` and joined by copying. */
  private carry: Buffer | null = null
  /** Inside an over-long line: bytes are dropped until the next newline. */
  private discarding = false
  private readonly outstanding: ChunkState[] = []
  private lastGrowth = Date.now()
  private rotatedAt = 0
  rotated = false
  closed = false
  done: Promise<void> = Promise.resolve()

  constructor(
    private readonly src: TailSource,
    private readonly fh: FileHandle,
    key: string,
    path: string,
    tag: string,
    offset: number,
  ) {
    this.key = key
    this.path = path
    this.tag = tag
    this.readPos = offset
    this.committed = offset
  }

  start(): void {
    this.done = this.run().catch((err) => {
      this.src.logger?.error({ err, path: this.path }, 'Tailing a file failed; it will be picked up again.')
      return this.close(false)
    })
  }

  status(): FileStatus {
    return {
      path: this.path,
      key: this.key,
      tag: this.tag,
      readOffset: this.readPos,
      committedOffset: this.committed,
      size: this.size,
      rotated: this.rotated,
    }
  }

  private async run(): Promise<void> {
    const o = this.src.options
    const size = o.bufferChunkSize
    this.work = Buffer.allocUnsafe(size * 2)
    while (!this.src.stopping && !this.closed) {
      if (this.src.overLimit()) {
        await this.src.waitForRoom()
        continue
      }
      const { bytesRead } = await this.fh.read(this.work, this.held, size, this.readPos)
      if (bytesRead > 0) {
        this.readPos += bytesRead
        if (this.readPos > this.size) this.size = this.readPos
        this.lastGrowth = Date.now()
        this.src.metrics?.bytesRead.inc(bytesRead)
        this.consume(bytesRead)
        continue
      }
      if (await this.checkFile()) continue
      const quiet = Date.now() - this.lastGrowth
      const partial = this.carry !== null || this.held > 0
      if (partial && quiet >= o.flushTimeout) this.flushPartial()
      if (this.rotated && Date.now() - Math.max(this.rotatedAt, this.lastGrowth) >= o.rotateWait) {
        if (this.carry !== null || this.held > 0) this.flushPartial()
        if (this.outstanding.length === 0) {
          this.src.logger?.info({ path: this.path }, 'Finished a rotated file.')
          await this.close(true)
          return
        }
      }
      await this.src.sleep(o.pollInterval)
    }
  }

  /** Detects copytruncate (the file shrank) and rename rotation (the path names another file). */
  private async checkFile(): Promise<boolean> {
    const st = await this.fh.stat()
    this.size = st.size
    if (st.size < this.readPos) {
      this.src.logger?.info(
        { path: this.path, size: st.size, offset: this.readPos },
        'The file was truncated (copytruncate); reading it again from the start.',
      )
      this.src.metrics?.rotations.inc({ kind: 'truncate' })
      this.generation++
      this.readPos = 0
      this.carry = null
      this.held = 0
      this.discarding = false
      this.committed = 0
      this.src.positions?.set(this.key, this.path, 0)
      return true
    }
    if (!this.rotated) {
      let current: string | undefined
      try {
        current = fileKey(await stat(this.path))
      } catch {
        current = undefined
      }
      if (current !== this.key) {
        this.rotated = true
        this.rotatedAt = Date.now()
        this.src.metrics?.rotations.inc({ kind: 'rename' })
        this.src.logger?.info(
          { path: this.path },
          'The file was rotated (renamed or removed); finishing it before following the new one.',
        )
        this.src.rescanSoon()
      }
    }
    return false
  }

  /** Splits the `n` bytes just read (after any held partial line) into lines. */
  private consume(n: number): void {
    const o = this.src.options
    const max = o.bufferMaxSize
    let base = this.readPos - n
    let data: Buffer
    if (this.carry) {
      // held is 0 while a long carry exists: the read went to the head of work.
      base -= this.carry.length
      data = Buffer.concat([this.carry, this.work.subarray(0, n)])
      this.carry = null
    } else {
      base -= this.held
      data = this.work.subarray(0, this.held + n)
      this.held = 0
    }
    const lines: string[] = []
    // File offset where each line starts: lets a consumer commit up to a line inside the chunk.
    const starts: number[] = []
    let pos = 0
    if (this.discarding) {
      const nl = data.indexOf(LF)
      if (nl === -1) {
        this.emit(lines, starts, base + data.length, n)
        return
      }
      pos = nl + 1
      this.discarding = false
    }
    let long = 0
    for (;;) {
      const nl = data.indexOf(LF, pos)
      if (nl === -1) break
      let end = nl
      if (end > pos && data[end - 1] === CR) end--
      if (end - pos > max) {
        long++
        if (!o.skipLongLines) {
          starts.push(base + pos)
          lines.push(data.toString('utf8', pos, pos + max))
        }
      } else if (end > pos || !o.skipEmptyLines) {
        starts.push(base + pos)
        lines.push(data.toString('utf8', pos, end))
      }
      pos = nl + 1
    }
    let consumed = base + pos
    const rest = data.length - pos
    if (rest > max) {
      // An over-long line without its newline yet: keep its head (truncate) or nothing (skip),
      // and drop the rest up to the next newline without buffering it.
      long++
      if (!o.skipLongLines) {
        starts.push(base + pos)
        lines.push(data.toString('utf8', pos, pos + max))
      }
      this.discarding = true
      consumed = base + data.length
    } else if (rest > 0) {
      // Keep the partial line at the head of work (copy handles the overlap), unless it would
      // not leave room for a full read after it.
      if (rest <= o.bufferChunkSize) this.held = data.copy(this.work, 0, pos)
      else this.carry = Buffer.from(data.subarray(pos))
    }
    if (long > 0) this.src.longLines(this.path, long)
    this.emit(lines, starts, consumed, n)
  }

  /** A last line without newline, quiet for flushTimeout: hand it on rather than wait forever. */
  private flushPartial(): void {
    const carry = this.carry ?? this.work.subarray(0, this.held)
    this.carry = null
    this.held = 0
    let end = carry.length
    if (end > 0 && carry[end - 1] === CR) end--
    const lines = end > 0 ? [carry.toString('utf8', 0, end)] : []
    this.emit(lines, [this.readPos - carry.length], this.readPos, 0)
  }

  private emit(lines: string[], starts: number[], end: number, bytes: number): void {
    const state: ChunkState = { generation: this.generation, end, bytes, refs: 1, done: false }
    this.outstanding.push(state)
    this.src.addBuffered(bytes)
    if (lines.length === 0) {
      this.release(state)
      return
    }
    this.src.metrics?.linesIn.inc(lines.length)
    let acked = false
    // The part of the chunk from `splitAt` on, when a holder asked to hold only that part.
    let tail: ChunkState | undefined
    let splitAt = lines.length
    const releaser = (s: ChunkState) => releaseOnce(this, s)
    const chunk: TailChunk = {
      tag: this.tag,
      path: this.path,
      stream: this.key,
      lines,
      bytes,
      hold: () => {
        state.refs++
        return releaser(state)
      },
      holdFrom: (index: number) => {
        if (index <= 0 || index >= lines.length || state.done) {
          state.refs++
          return releaser(state)
        }
        if (!tail) {
          // Split the chunk in the FIFO: [start, line index) commits with the other holders,
          // [line index, end) waits for this one.
          tail = { generation: state.generation, end: state.end, bytes: 0, refs: 0, done: false }
          this.outstanding.splice(this.outstanding.indexOf(state) + 1, 0, tail)
        }
        if (index < splitAt) {
          splitAt = index
          state.end = starts[index]!
        }
        tail.refs++
        return releaser(tail)
      },
      ack: () => {
        if (acked) return
        acked = true
        this.release(state)
      },
    }
    this.src.deliver(chunk)
  }

  release(state: ChunkState): void {
    if (--state.refs > 0) return
    state.done = true
    this.src.addBuffered(-state.bytes)
    let moved = false
    while (this.outstanding.length > 0 && this.outstanding[0]!.done) {
      const s = this.outstanding.shift()!
      // Chunks read before a truncation describe content that no longer exists.
      if (s.generation === this.generation) {
        this.committed = s.end
        moved = true
      }
    }
    if (moved) this.src.positions?.set(this.key, this.path, this.committed)
  }

  async close(finished: boolean): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.fh.close().catch(() => {})
    this.src.forget(this, finished)
  }
}

/**
 * A release function for one hold. Made outside emit() on purpose: a closure created there would
 * share emit's context, which holds the chunk's line strings, and keep them alive for as long as
 * the holder (a batch waiting for its sink) keeps the release.
 */
function releaseOnce(tailer: FileTailer, state: ChunkState): () => void {
  let released = false
  return () => {
    if (released) return
    released = true
    tailer.release(state)
  }
}
