// Our YAML pipeline through the built process, and the start-up errors a user meets first.

import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, spawnService, tempDir, waitFor } from '@podkit/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import { startForwardReceiver } from './fakes/forward-receiver.ts'
import { accessLine, ENTRY, FIXTURES } from './helpers.ts'

let cleanup: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const c of cleanup.reverse()) await c()
  cleanup = []
})

describe('YAML config', () => {
  it('runs the seed pipeline written in YAML (--config), with env overrides of its options', async () => {
    const dir = tempDir('shipper-yaml-')
    cleanup.push(() => dir.cleanup())
    const recv = await startForwardReceiver({ sharedKey: 'k' })
    cleanup.push(() => recv.stop())
    mkdirSync(join(dir.path, 'logs'))
    const file = join(dir.path, 'logs/access.log')
    writeFileSync(file, '')
    const yaml = join(dir.path, 'shipper.yaml')
    writeFileSync(
      yaml,
      `logLevel: debug
service:
  flush: 0.2
  parsers_file: ${join(FIXTURES, 'parsers.conf')}
pipeline:
  inputs:
    - { name: tail, path: "${dir.path}/logs/*.log", parser: nginx, tag: "nginx.*" }
  filters:
    - { name: modify, match: "*", add: ["pod_name \${POD_NAME}"] }
  outputs:
    - { name: forward, match: "nginx.*", host: 127.0.0.1, port: ${recv.port}, shared_key: k, require_ack_response: on }
`,
    )
    const admin = await freePort()
    const proc = spawnService({
      entry: ENTRY,
      args: ['--config', yaml],
      env: { ADMIN_PORT: String(admin), ADMIN_HOST: '127.0.0.1', LOG_LEVEL: 'info', POD_NAME: 'web-1' },
    })
    cleanup.push(() => proc.stop('SIGKILL'))
    await proc.waitForLog((l) => l.msg === 'Ready.', 20_000)
    // env beats the file: LOG_LEVEL=info wins over logLevel: debug
    expect(proc.logs.some((l) => l.level === 'debug')).toBe(false)
    appendFileSync(file, `${accessLine(5).line}\n`)
    await waitFor(() => recv.events.length === 1, 10_000)
    expect(recv.events[0]!.record).toMatchObject({ ...accessLine(5).fields, pod_name: 'web-1' })
    expect(recv.auths).toEqual([true])
    // the shared key never reaches the logs
    expect(JSON.stringify(proc.logs)).not.toContain('"k"')
  })

  it('refuses to start without any pipeline, and with both formats at once', async () => {
    const none = spawnService({ entry: ENTRY, args: ['--check-config'] })
    expect(await none.exited).toBe(2)
    expect(none.stderr()).toContain('no pipeline to run')
    const dir = tempDir('shipper-both-')
    cleanup.push(() => dir.cleanup())
    const yaml = join(dir.path, 'x.yaml')
    writeFileSync(yaml, 'pipeline:\n  inputs:\n    - { name: tail, path: /x }\n')
    const both = spawnService({
      entry: ENTRY,
      args: ['--config', yaml, '--check-config'],
      env: { FLUENT_BIT_CONFIG: join(FIXTURES, 'fluent-bit.conf') },
    })
    expect(await both.exited).toBe(2)
    expect(both.stderr()).toContain('both a Fluent Bit config')
  })
})
