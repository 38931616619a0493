// What the tail source hands downstream: the complete lines of one read, with an acknowledgement
// handle. The file offset after those lines is committed only when every holder has released it
// and every earlier chunk of the same file was released too (at-least-once delivery).

export interface TailChunk {
  /** Tag of the file (Fluent Bit's `Tag`, with `*` expanded to the path). */
  readonly tag: string
  /** Path the file was found at. */
  readonly path: string
  /** `dev:ino` of the file: stable across a rename, the key for per-file state such as multiline. */
  readonly stream: string
  /** Complete lines, without the newline (and without CR for CRLF files), invalid UTF-8 replaced. */
  readonly lines: string[]
  /** File bytes this chunk accounts for (what counts against the memory buffer limit). */
  readonly bytes: number
  /**
   * Adds a holder (an output queue, a pending multiline record) and returns its release function.
   * Call the release exactly once, when that holder's events are acknowledged.
   */
  hold(): () => void
  /**
   * Holds only the lines from `index` on (a record still waiting for continuation lines): the
   * offset of the lines before it can be committed without waiting for this holder.
   */
  holdFrom(index: number): () => void
  /** Releases the hold the source gave the consumer; call once, after taking the lines (and any holds). */
  ack(): void
}

/** A chunk's bookkeeping inside its file's FIFO of unacknowledged chunks. */
export interface ChunkState {
  generation: number
  end: number
  bytes: number
  refs: number
  done: boolean
}
