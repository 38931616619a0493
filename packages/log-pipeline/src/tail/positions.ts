// The positions file: the acknowledged offset of every tailed file, keyed by device+inode so a
// renamed file keeps its place. Written atomically (temp file, fsync, rename) so a crash leaves
// either the old or the new content, never a torn file.

import { open, readFile, rename, unlink } from 'node:fs/promises'
import { PositionsFileError } from '../errors.ts'

export interface PositionEntry {
  path: string
  offset: number
}

export interface PositionsData {
  version: 1
  files: Record<string, PositionEntry>
}

/** `dev:ino` of a file: the identity that survives a rename. */
export const fileKey = (st: { dev: number | bigint; ino: number | bigint }) => `${st.dev}:${st.ino}`

export class PositionsFile {
  readonly path: string
  private entries = new Map<string, PositionEntry>()
  private dirty = false
  private writing: Promise<void> | undefined

  private readonly fsync: boolean

  constructor(path: string, opts: { fsync?: boolean } = {}) {
    this.path = path
    this.fsync = opts.fsync ?? true
  }

  /** Reads the file; a missing file is an empty start, an unreadable one is an error naming it. */
  async load(): Promise<void> {
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw new PositionsFileError(`cannot read positions file ${this.path}: ${(err as Error).message}`, {
        cause: err,
      })
    }
    let data: PositionsData
    try {
      data = JSON.parse(text) as PositionsData
      if (data.version !== 1 || typeof data.files !== 'object' || data.files === null)
        throw new Error('bad shape')
    } catch (err) {
      throw new PositionsFileError(
        `positions file ${this.path} is not a podkit positions file (${(err as Error).message}); move it away to start over`,
        { cause: err },
      )
    }
    for (const [k, v] of Object.entries(data.files)) {
      if (typeof v?.offset === 'number' && v.offset >= 0)
        this.entries.set(k, { path: String(v.path), offset: v.offset })
    }
  }

  get(key: string): PositionEntry | undefined {
    return this.entries.get(key)
  }

  set(key: string, path: string, offset: number): void {
    const cur = this.entries.get(key)
    if (cur && cur.offset === offset && cur.path === path) return
    this.entries.set(key, { path, offset })
    this.dirty = true
  }

  delete(key: string): void {
    if (this.entries.delete(key)) this.dirty = true
  }

  snapshot(): PositionsData {
    return { version: 1, files: Object.fromEntries(this.entries) }
  }

  /** Writes when something changed since the last save; concurrent calls share one write. */
  async save(force = false): Promise<void> {
    if (this.writing) await this.writing
    if (!this.dirty && !force) return
    this.dirty = false
    const text = `${JSON.stringify(this.snapshot())}\n`
    this.writing = (async () => {
      const tmp = `${this.path}.tmp`
      try {
        const fh = await open(tmp, 'w', 0o644)
        try {
          await fh.writeFile(text)
          if (this.fsync) await fh.sync()
        } finally {
          await fh.close()
        }
        await rename(tmp, this.path)
      } catch (err) {
        this.dirty = true
        await unlink(tmp).catch(() => {})
        throw new PositionsFileError(`cannot write positions file ${this.path}: ${(err as Error).message}`, {
          cause: err,
        })
      }
    })()
    try {
      await this.writing
    } finally {
      this.writing = undefined
    }
  }
}
