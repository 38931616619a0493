// A batch of output lines as bytes: records are encoded into it as they are taken, so a batch
// waiting for its sink holds one Buffer (outside the V8 heap) instead of event objects and
// strings that would live long enough to be promoted to the old generation. That promotion was
// most of the adapter's working memory (the old space grew ~12 MiB while converting).

/** Output lines (each ending in `\n`) appended to a growable Buffer. */
export class LineBuffer {
  buf: Buffer
  /** Bytes used. */
  length = 0
  /** Complete lines (records) in the buffer. */
  lines = 0

  constructor(capacity = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(capacity)
  }

  /** Appends a string as UTF-8. */
  write(s: string): void {
    // UTF-16 code units encode to at most 3 UTF-8 bytes each.
    const need = this.length + s.length * 3
    if (need > this.buf.length) this.grow(need)
    this.length += this.buf.write(s, this.length, 'utf8')
  }

  /** Appends a string known to be ASCII (one byte per code unit): ISO times, level names. */
  writeAscii(s: string): void {
    const need = this.length + s.length
    if (need > this.buf.length) this.grow(need)
    this.length += this.buf.write(s, this.length, 'latin1')
  }

  /**
   * Appends bytes as they are: a record's constant pieces, encoded once. TypedArray#set is a
   * builtin, cheaper per call than Buffer#write's argument checks and encoding for a few bytes.
   */
  writeBytes(b: Uint8Array): void {
    const need = this.length + b.length
    if (need > this.buf.length) this.grow(need)
    this.buf.set(b, this.length)
    this.length = need
  }

  /** Appends one byte (an ASCII character code). */
  byte(c: number): void {
    if (this.length + 1 > this.buf.length) this.grow(this.length + 1)
    this.buf[this.length++] = c
  }

  /** Appends n (0-999) as three ASCII digits: the milliseconds of an ISO time. */
  digits3(n: number): void {
    if (this.length + 3 > this.buf.length) this.grow(this.length + 3)
    const b = this.buf
    b[this.length++] = 0x30 + Math.floor(n / 100)
    b[this.length++] = 0x30 + (Math.floor(n / 10) % 10)
    b[this.length++] = 0x30 + (n % 10)
  }

  /** Ends the current line (record). */
  endLine(): void {
    if (this.length + 1 > this.buf.length) this.grow(this.length + 1)
    this.buf[this.length++] = 0x0a
    this.lines++
  }

  /** The encoded lines (a view, valid until the next write or reset). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.length)
  }

  reset(): void {
    this.length = 0
    this.lines = 0
  }

  private grow(need: number): void {
    const next = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2))
    this.buf.copy(next, 0, 0, this.length)
    this.buf = next
  }
}

/**
 * Reuses LineBuffers between batches: a converting pipeline needs a few at a time (the batch
 * being filled and those waiting for the sink), so after warm-up no batch allocates.
 */
export class LineBufferPool {
  private readonly free: LineBuffer[] = []

  constructor(
    private readonly capacity: number,
    /** Buffers kept for reuse; more in flight are allocated and dropped. */
    private readonly keep = 4,
    /** A buffer that grew past this (a batch of huge records) is dropped, not kept. */
    private readonly maxKeptBytes = 1024 * 1024,
  ) {}

  get(): LineBuffer {
    const b = this.free.pop()
    if (b) return b
    return new LineBuffer(this.capacity)
  }

  put(b: LineBuffer): void {
    b.reset()
    if (this.free.length < this.keep && b.buf.length <= this.maxKeptBytes) this.free.push(b)
  }
}
