// Starts a podkit service the way its image does (node dist/main.js), collects its JSON logs and
// stops it with a signal, so tests exercise the shipped entrypoint.

import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { waitFor } from './net.ts'

export interface ServiceProcess {
  child: ChildProcess
  /** Every JSON log line so far (non-JSON stdout lines are kept as { raw }). */
  logs: Array<Record<string, unknown>>
  stderr(): string
  /** Resolves when a log line matches. */
  waitForLog(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>
  /** Sends a signal and resolves with the exit code (or the signal name). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>
  exited: Promise<number | string>
}

export interface SpawnServiceOptions {
  /** The script: usually `<package>/dist/main.js`. */
  entry: string
  args?: string[]
  env?: Record<string, string>
  cwd?: string
  /** Use tsx to run a TypeScript entry directly. */
  typescript?: boolean
  /** The Node binary (default: the one running the tests), e.g. imageNode() for the images' Node. */
  node?: string
  /** Node's own arguments before the entry, e.g. the image's (package.json podkit.nodeArgs). */
  nodeArgs?: string[]
}

export function spawnService(opts: SpawnServiceOptions): ServiceProcess {
  const nodeArgs = [
    ...(opts.nodeArgs ?? []),
    ...(opts.typescript ? ['--import', 'tsx', opts.entry] : [opts.entry]),
  ]
  const child = spawn(opts.node ?? process.execPath, [...nodeArgs, ...(opts.args ?? [])], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...opts.env },
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const logs: Array<Record<string, unknown>> = []
  let err = ''
  let partial = ''
  child.stdout!.on('data', (d: Buffer) => {
    partial += d.toString()
    const lines = partial.split('\n')
    partial = lines.pop()!
    for (const l of lines) {
      if (!l.trim()) continue
      try {
        logs.push(JSON.parse(l))
      } catch {
        logs.push({ raw: l })
      }
    }
  })
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString()
  })
  const exited = once(child, 'close').then(([code, signal]) => (code ?? signal) as number | string)
  return {
    child,
    logs,
    stderr: () => err,
    exited,
    waitForLog: (match, timeoutMs = 10_000) =>
      waitFor(
        () => logs.find(match),
        timeoutMs,
        `a log line (logs so far: ${JSON.stringify(logs.slice(-5))} ${err})`,
      ),
    async stop(signal = 'SIGTERM', timeoutMs = 30_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
      try {
        return await exited
      } finally {
        clearTimeout(timer)
      }
    },
  }
}
