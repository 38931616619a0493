// Shared set-up of the HTTP sink tests (es, loki, http): fakes and sinks started by a test are
// stopped after it, sections are built the way a config file builds them, and events are numbered.

import type { LogEvent } from '@podkit/log-pipeline'
import { afterEach } from 'vitest'
import { PluginSection } from '../src/fluent-bit/section.ts'
import type { HttpFake } from './fakes/http-fakes.ts'

/** Registers an afterEach that stops what the test tracked: sinks (stops) first, then fakes. */
export function sinkTestCleanup(): {
  track: <T extends HttpFake>(f: T) => T
  stops: Array<() => Promise<void>>
} {
  const fakes: HttpFake[] = []
  const stops: Array<() => Promise<void>> = []
  afterEach(async () => {
    for (const s of stops.splice(0)) await s()
    for (const f of fakes.splice(0)) await f.stop()
  })
  return {
    track: (f) => {
      fakes.push(f)
      return f
    },
    stops,
  }
}

/** An [OUTPUT] section from key/value pairs. */
export const section = (obj: Record<string, unknown>): PluginSection =>
  PluginSection.fromObject('output', obj, 'test')

/** n events tagged app.web, 10 ms apart, with a numbered msg and alternating levels. */
export const events = (n: number, extra: (i: number) => Record<string, unknown> = () => ({})): LogEvent[] =>
  Array.from({ length: n }, (_, i) => ({
    tag: 'app.web',
    time: 1_700_000_000_000 + i * 10,
    record: { msg: `hello ${i}`, level: i % 2 ? 'info' : 'warn', ...extra(i) },
  }))
