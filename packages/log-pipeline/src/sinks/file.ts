// The file sink: JSON Lines appended to a file, rotated by size (path -> path.1 -> ... -> path.N,
// the oldest dropped) so it cannot fill its volume. Rotation renames, so a reader that follows
// the file by inode (Fluent Bit, our tail source) finishes the old file and sees every record.

import { type FileHandle, open, rename } from 'node:fs/promises'
import { SinkWriteError } from '../errors.ts'
import type { LogEvent } from '../event.ts'
import type { Sink } from '../sink.ts'

export interface FileSinkOptions {
  path: string
  name?: string
  /** Rotate before the file would grow past this many bytes; 0 never rotates. Default 16 MiB. */
  maxSize?: number
  /** Rotated files kept (path.1 ... path.N). Default 4. */
  maxFiles?: number
  /** fsync after every batch, so an acknowledged batch survives a machine crash too. Default false. */
  fsync?: boolean
  /** One event to one line (without newline). Default: the record as JSON. */
  serialize?: (event: LogEvent) => string
  /** Called after each rotation, e.g. to count it. */
  onRotate?: () => void
  /** Called when the file was found ending inside a line (a writer killed mid-write) and the line was ended. */
  onTornLine?: () => void
}

const LF = 0x0a

export const serializeRecord = (e: LogEvent): string => JSON.stringify(e.record)

export class FileSink implements Sink {
  readonly name: string
  private fh: FileHandle | undefined
  private size = 0
  private readonly o: Required<Omit<FileSinkOptions, 'onRotate' | 'onTornLine' | 'name'>> &
    Pick<FileSinkOptions, 'onRotate' | 'onTornLine'>

  constructor(opts: FileSinkOptions) {
    this.name = opts.name ?? 'file'
    this.o = {
      path: opts.path,
      maxSize: opts.maxSize ?? 16 * 1024 * 1024,
      maxFiles: opts.maxFiles ?? 4,
      fsync: opts.fsync ?? false,
      serialize: opts.serialize ?? serializeRecord,
      onRotate: opts.onRotate,
      onTornLine: opts.onTornLine,
    }
  }

  async start(): Promise<void> {
    await this.openFile()
  }

  async write(events: readonly LogEvent[]): Promise<void> {
    if (!this.fh) await this.openFile()
    const { maxSize, serialize } = this.o
    let part = ''
    let partBytes = 0
    for (const e of events) {
      const line = `${serialize(e)}\n`
      const n = Buffer.byteLength(line)
      if (maxSize > 0 && this.size + partBytes + n > maxSize && this.size + partBytes > 0) {
        await this.append(part, partBytes)
        part = ''
        partBytes = 0
        await this.rotate()
      }
      part += line
      partBytes += n
    }
    if (partBytes > 0) await this.append(part, partBytes)
    if (this.o.fsync) await this.fh!.sync()
  }

  /**
   * The pipeline's encoded batches: bytes go to the file as they are, split at a newline where
   * the file would pass maxSize (the same rotation points as write()). No string is built.
   */
  async writeLines(data: Buffer): Promise<void> {
    if (!this.fh) await this.openFile()
    const { maxSize } = this.o
    let off = 0
    while (off < data.length) {
      if (maxSize <= 0 || this.size + (data.length - off) <= maxSize) {
        await this.appendBytes(data.subarray(off))
        break
      }
      // The last whole line that still fits, then rotate.
      const room = maxSize - this.size
      const nl = room > 0 ? data.lastIndexOf(LF, off + room - 1) : -1
      if (nl >= off) {
        await this.appendBytes(data.subarray(off, nl + 1))
        off = nl + 1
      } else if (this.size === 0) {
        // One line longer than maxSize goes alone into an empty file, as in write().
        const end = data.indexOf(LF, off) + 1 || data.length
        await this.appendBytes(data.subarray(off, end))
        off = end
      }
      if (off < data.length) await this.rotate()
    }
    if (this.o.fsync) await this.fh!.sync()
  }

  async stop(): Promise<void> {
    const fh = this.fh
    this.fh = undefined
    if (fh) {
      await fh.sync().catch(() => {})
      await fh.close()
    }
  }

  private async append(text: string, bytes: number): Promise<void> {
    if (bytes === 0) return
    try {
      await this.fh!.write(text)
      this.size += bytes
    } catch (err) {
      // Re-open on the next attempt: the volume may have been remounted or the file removed.
      await this.fh?.close().catch(() => {})
      this.fh = undefined
      throw new SinkWriteError(`cannot write ${this.o.path}: ${(err as Error).message}`, { cause: err })
    }
  }

  private async appendBytes(data: Buffer): Promise<void> {
    try {
      let done = 0
      // A regular file takes the whole write, but the API allows a short one: finish it.
      while (done < data.length) {
        const { bytesWritten } = await this.fh!.write(data, done, data.length - done)
        done += bytesWritten
        this.size += bytesWritten
      }
    } catch (err) {
      await this.fh?.close().catch(() => {})
      this.fh = undefined
      throw new SinkWriteError(`cannot write ${this.o.path}: ${(err as Error).message}`, { cause: err })
    }
  }

  private async rotate(): Promise<void> {
    const { path, maxFiles } = this.o
    await this.fh?.sync().catch(() => {})
    await this.fh?.close()
    this.fh = undefined
    try {
      for (let i = maxFiles - 1; i >= 1; i--)
        await rename(`${path}.${i}`, `${path}.${i + 1}`).catch(ignoreMissing)
      if (maxFiles >= 1) await rename(path, `${path}.1`)
    } catch (err) {
      throw new SinkWriteError(`cannot rotate ${path}: ${(err as Error).message}`, { cause: err })
    }
    // maxFiles 0 keeps no history: truncate in place.
    await this.openFile(maxFiles < 1)
    this.o.onRotate?.()
  }

  private async openFile(truncate = false): Promise<void> {
    try {
      this.fh = await open(this.o.path, truncate ? 'w' : 'a+', 0o644)
      this.size = truncate ? 0 : (await this.fh.stat()).size
      if (this.size > 0) await this.endTornLine(this.fh)
    } catch (err) {
      throw new SinkWriteError(`cannot open ${this.o.path}: ${(err as Error).message}`, { cause: err })
    }
  }

  /**
   * A process killed in the middle of a write (kill -9, OOM) can leave the file ending inside a
   * line: the kernel stops a large write between pages. That batch was never acknowledged, so it
   * is written again whole; the fragment gets its newline first, or the first new record would
   * be glued to it and unreadable. It is not cut off: a reader following the file would take the
   * shrink for a truncation and read everything again (Fluent Bit rewinds to 0).
   */
  private async endTornLine(fh: FileHandle): Promise<void> {
    const last = Buffer.alloc(1)
    await fh.read(last, 0, 1, this.size - 1)
    if (last[0] === LF) return
    await fh.write('\n')
    this.size += 1
    this.o.onTornLine?.()
  }
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err
}
