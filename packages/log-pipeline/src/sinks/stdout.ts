// The stdout sink: one JSON line per event on the process's stdout (or any writable stream);
// a batch is acknowledged when the stream has taken it.

import type { Writable } from 'node:stream'
import { SinkWriteError } from '../errors.ts'
import type { LogEvent } from '../event.ts'
import type { Sink } from '../sink.ts'
import { serializeRecord } from './file.ts'

export interface StdoutSinkOptions {
  name?: string
  stream?: Writable
  serialize?: (event: LogEvent) => string
}

export class StdoutSink implements Sink {
  readonly name: string
  private readonly stream: Writable
  private readonly serialize: (event: LogEvent) => string

  constructor(opts: StdoutSinkOptions = {}) {
    this.name = opts.name ?? 'stdout'
    this.stream = opts.stream ?? process.stdout
    this.serialize = opts.serialize ?? serializeRecord
  }

  write(events: readonly LogEvent[]): Promise<void> {
    let text = ''
    for (const e of events) text += `${this.serialize(e)}\n`
    return this.send(text)
  }

  /** The pipeline's encoded batches, written as they are. */
  writeLines(data: Buffer): Promise<void> {
    return this.send(data)
  }

  private send(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.stream.write(data, (err) =>
        err
          ? reject(new SinkWriteError(`cannot write to ${this.name}: ${err.message}`, { cause: err }))
          : resolve(),
      )
    })
  }
}
