// The http output: records POSTed as a JSON array, JSON lines or a JSON stream, with the event time
// under json_date_key, optional gzip, custom headers, basic or bearer auth and TLS. A 2xx is the ack.
// Fluent Bit reference: https://docs.fluentbit.io/manual/pipeline/outputs/http

import type { LogEvent, Sink } from '@podkit/log-pipeline'
import { formatDate, HttpClient, type HttpTarget } from '../http-client.ts'

export interface HttpSinkOptions {
  name: string
  target: HttpTarget
  uri: string
  format: 'json' | 'json_lines' | 'json_stream'
  /** Key of the event time in each record; empty leaves it out. */
  dateKey: string
  dateFormat: string
}

export class HttpSink implements Sink {
  readonly name: string
  private readonly client: HttpClient

  constructor(private readonly o: HttpSinkOptions) {
    this.name = o.name
    this.client = new HttpClient(o.target)
  }

  async write(events: readonly LogEvent[], signal?: AbortSignal): Promise<void> {
    const docs = events.map((e) =>
      this.o.dateKey ? { [this.o.dateKey]: formatDate(e.time, this.o.dateFormat), ...e.record } : e.record,
    )
    let body: string
    let type: string
    if (this.o.format === 'json') {
      body = JSON.stringify(docs)
      type = 'application/json'
    } else {
      body = `${docs.map((d) => JSON.stringify(d)).join('\n')}\n`
      type = this.o.format === 'json_lines' ? 'application/x-ndjson' : 'application/json'
    }
    await this.client.post(this.o.uri, body, type, signal)
  }

  async stop(): Promise<void> {
    await this.client.close()
  }
}
