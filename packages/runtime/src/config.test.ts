import { writeFileSync } from 'node:fs'
import { tempDir } from '@podkit/test-utils'
import { Type } from '@sinclair/typebox'
import { describe, expect, it } from 'vitest'
import { loadConfig } from './config.ts'
import { ConfigError } from './errors.ts'
import { renderHelp, renderOptionsMarkdown } from './help.ts'
import { commonOptions } from './lifecycle.ts'
import { Duration, Options, Size } from './schema.ts'

const schema = Options({
  ...commonOptions({ adminPort: 2020 }),
  input: Type.Array(Type.String(), {
    default: ['/raw-logs/application.log'],
    env: 'INPUT',
    description: 'Globs to read.',
  }),
  flushTimeout: Duration({ default: 1000, env: 'FLUSH_TIMEOUT', description: 'Flush after.' }),
  maxLine: Size({ default: 32768, env: 'MAX_LINE', description: 'Longest line.' }),
  mode: Type.Union([Type.Literal('a'), Type.Literal('b')], {
    default: 'a',
    env: 'MODE',
    description: 'Mode.',
  }),
  token: Type.String({ default: '', env: 'TOKEN', secret: true, description: 'Token.' }),
})

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError')
}

describe('loadConfig', () => {
  it('fills defaults', () => {
    const { config } = loadConfig({ schema, env: {} })
    expect(config.admin.port).toBe(2020)
    expect(config.input).toEqual(['/raw-logs/application.log'])
    expect(config.shutdown.grace).toBe(20_000)
  })

  it('applies file < env < flags precedence and parses units', () => {
    const dir = tempDir()
    const file = `${dir.path}/c.yaml`
    writeFileSync(file, 'admin:\n  port: 3000\nflushTimeout: 2s\nmaxLine: 1MiB\nmode: b\n')
    const { config, sources } = loadConfig({
      schema,
      env: { CONFIG_FILE: file, ADMIN_PORT: '4000', INPUT: '/a/*.log, /b/*.log' },
      argv: ['--admin.port=5000', '--flush-timeout', '250ms'],
    })
    expect(config.admin.port).toBe(5000)
    expect(sources['admin.port']).toBe('flag --admin.port')
    expect(config.flushTimeout).toBe(250)
    expect(config.maxLine).toBe(1024 * 1024)
    expect(config.mode).toBe('b')
    expect(config.input).toEqual(['/a/*.log', '/b/*.log'])
    dir.cleanup()
  })

  it('splits a list on line breaks as well as commas', () => {
    // A Go exporter's repeatable flag reads its env var one value a line (a YAML block scalar).
    const { config } = loadConfig({ schema, env: { INPUT: '/a/*.log\n/b/*.log\r\n/c/*.log,/d/*.log\n' } })
    expect(config.input).toEqual(['/a/*.log', '/b/*.log', '/c/*.log', '/d/*.log'])
  })

  it('reads booleans as Go peers do (t/f too, any case) and refuses anything else, naming the key', () => {
    const flagSchema = Options({ on: Type.Boolean({ default: false, env: 'ON', description: 'On.' }) })
    for (const [text, want] of [
      ['t', true],
      ['TRUE', true],
      ['yes', true],
      ['1', true],
      ['F', false],
      ['False', false],
      ['off', false],
      ['0', false],
    ] as const)
      expect(loadConfig({ schema: flagSchema, env: { ON: text } }).config.on, text).toBe(want)
    const err = errorOf(() => loadConfig({ schema: flagSchema, env: { ON: 'maybe' } }))
    expect(err.issues[0]!.key).toBe('on')
  })

  it('rejects an unknown key in the file, naming it', () => {
    const dir = tempDir()
    const file = `${dir.path}/c.yaml`
    writeFileSync(file, 'admin:\n  prot: 3000\n')
    const err = errorOf(() => loadConfig({ schema, env: { CONFIG_FILE: file } }))
    expect(err.issues).toHaveLength(1)
    expect(err.issues[0]!.key).toBe('admin.prot')
    expect(err.message).toContain('unknown key')
    dir.cleanup()
  })

  it('rejects an unknown flag', () => {
    const err = errorOf(() => loadConfig({ schema, env: {}, argv: ['--admin.prot=1'] }))
    expect(err.issues.map((i) => i.key)).toEqual(['--admin.prot'])
  })

  it('reports every problem at once with key, expected and got', () => {
    const err = errorOf(() =>
      loadConfig({
        schema,
        env: { ADMIN_PORT: 'eighty', FLUSH_TIMEOUT: 'soon', MODE: 'c', LOG_LEVEL: 'loud' },
      }),
    )
    const keys = err.issues.map((i) => i.key).sort()
    expect(keys).toEqual(['admin.port', 'flushTimeout', 'logLevel', 'mode'])
    const port = err.issues.find((i) => i.key === 'admin.port')!
    expect(port.expected).toBe('integer')
    expect(port.got).toBe('"eighty"')
    expect(port.source).toBe('env ADMIN_PORT')
    expect(err.message).toMatch(/4 problems/)
    expect(err.code).toBe('PODKIT_CONFIG_INVALID')
  })

  it('never prints a secret value in an error', () => {
    const err = errorOf(() =>
      loadConfig({ schema, env: {}, argv: ['--token', 'hunter2', '--admin.port', 'x'] }),
    )
    expect(err.message).not.toContain('hunter2')
    const withBadSecret = errorOf(() =>
      loadConfig({ schema: Options({ s: Type.Integer({ secret: true, env: 'S' }) }), env: { S: 'hunter2' } }),
    )
    expect(withBadSecret.message).not.toContain('hunter2')
    expect(withBadSecret.message).toContain('[redacted]')
  })

  it('handles --help and --check-config as actions', () => {
    expect(loadConfig({ schema, env: {}, argv: ['--check-config'] }).action).toBe('check')
  })
})

describe('help', () => {
  it('lists every option with flag, env var and default', () => {
    const text = renderHelp(schema, { name: 'podkit-test' })
    for (const line of [
      '--admin.port <integer>  env ADMIN_PORT  default 2020',
      '--flush-timeout <duration>  env FLUSH_TIMEOUT  default 1s',
      '--max-line <size>  env MAX_LINE  default 32KiB',
      '--input <list of string>  env INPUT  default /raw-logs/application.log',
      '--mode <"a"|"b">  env MODE  default a',
      '--log-level',
      '--check-config',
    ]) {
      expect(text).toContain(line)
    }
  })

  it('renders the README table from the same schema', () => {
    const md = renderOptionsMarkdown(schema)
    expect(md).toContain('| `admin.port` | `--admin.port` | `ADMIN_PORT` | integer | `2020` |')
    expect(md.split('\n')).toHaveLength(2 + 9)
  })
})
