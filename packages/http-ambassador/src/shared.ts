// State the threads of one process share (threads.ts), so limits hold for the process as in
// Envoy and not once per thread: the circuit breakers' in-flight counts per cluster (one slot per
// thread, summed when read, zeroed when a thread dies) and the local rate limits' token buckets
// (behind a tiny spin lock). One thread alone uses the same layout on a plain ArrayBuffer.

export class SharedState {
  readonly i32: Int32Array
  readonly f64: Float64Array
  private readonly bucketBase: number

  constructor(
    readonly buffer: SharedArrayBuffer | ArrayBuffer,
    readonly threads: number,
    readonly clusters: number,
    readonly buckets: number,
  ) {
    const ints = threads * clusters * 2 + buckets
    const floatOffset = Math.ceil((ints * 4) / 8) * 8
    this.i32 = new Int32Array(buffer, 0, ints)
    this.f64 = new Float64Array(buffer, floatOffset, buckets * 2)
    this.bucketBase = threads * clusters * 2
  }

  static create(threads: number, clusters: number, buckets: number): SharedState {
    const ints = threads * clusters * 2 + buckets
    const bytes = Math.ceil((ints * 4) / 8) * 8 + buckets * 16
    const buffer = threads > 1 ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes)
    return new SharedState(buffer, threads, clusters, buckets)
  }

  /** Index in i32 of a thread's [active, retries] counts of a cluster. */
  counts(cluster: number, thread: number): number {
    return (thread * this.clusters + cluster) * 2
  }

  /** The sum over every thread of one count (0: requests in flight, 1: retries in flight). */
  total(cluster: number, which: 0 | 1): number {
    let n = 0
    for (let t = 0; t < this.threads; t++) n += Atomics.load(this.i32, this.counts(cluster, t) + which)
    return n
  }

  lock(bucket: number): number {
    return this.bucketBase + bucket
  }

  /** A thread died: its requests are no longer in flight, and a lock it held is released. */
  releaseThread(thread: number): void {
    for (let c = 0; c < this.clusters; c++) {
      const i = this.counts(c, thread)
      Atomics.store(this.i32, i, 0)
      Atomics.store(this.i32, i + 1, 0)
    }
    for (let b = 0; b < this.buckets; b++) Atomics.compareExchange(this.i32, this.lock(b), thread + 1, 0)
  }
}
