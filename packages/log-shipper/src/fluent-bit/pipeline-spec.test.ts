import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createLogger, Registry } from '@podkit/runtime'
import { tempDir } from '@podkit/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import { Engine } from '../engine.ts'
import { PipelineConfigError, UnsupportedPluginError } from '../errors.ts'
import { pipelineFromClassic, pipelineFromObject } from './pipeline-spec.ts'

const fixtures = fileURLToPath(new URL('../../test/fixtures/', import.meta.url))
const dirs: Array<{ cleanup(): void }> = []
afterEach(() => {
  for (const d of dirs.splice(0)) d.cleanup()
})

function write(files: Record<string, string>): string {
  const d = tempDir('shipper-conf-')
  dirs.push(d)
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(d.path, name, '..'), { recursive: true })
    writeFileSync(join(d.path, name), text)
  }
  return d.path
}

function problem(fn: () => unknown): Error {
  try {
    fn()
  } catch (err) {
    return err as Error
  }
  throw new Error('expected an error')
}

describe("the seed's fluent-bit.conf and parsers.conf, verbatim", () => {
  const env = { POD_NAME: 'web-1', POD_NAMESPACE: 'shop' }
  const spec = pipelineFromClassic(join(fixtures, 'fluent-bit.conf'), env)

  it('reads the SERVICE keys', () => {
    expect(spec.service.flushMs).toBe(5000)
    expect(spec.service.logLevel).toBe('info')
    expect(spec.service.storagePath).toBeUndefined()
    expect(spec.warnings).toEqual([])
  })

  it('reads the tail input with its keys, case-insensitively', () => {
    expect(spec.inputs).toHaveLength(1)
    const tail = spec.inputs[0]!
    expect(tail.name).toBe('tail')
    expect(tail.str('path')).toBe('/var/log/app/*.log')
    expect(tail.str('parser')).toBe('nginx')
    expect(tail.str('tag')).toBe('nginx.*')
    expect(tail.seconds('refresh_interval', 60_000)).toBe(10_000)
    expect(tail.size('mem_buf_limit', 0)).toBe(5 * 1024 * 1024)
    expect(tail.bool('skip_long_lines', false)).toBe(true)
    expect(tail.whereOf('mem_buf_limit')).toBe(`${join(fixtures, 'fluent-bit.conf')}:13`)
  })

  // biome-ignore lint/suspicious/noTemplateCurlyInString: Fluent Bit's own ${VAR} syntax, not a template
  it('interpolates ${POD_NAME} and ${POD_NAMESPACE} into the repeated Add keys', () => {
    const modify = spec.filters[0]!
    expect(modify.name).toBe('modify')
    expect(modify.all('add').map((p) => p.value)).toEqual(['pod_name web-1', 'namespace shop'])
  })

  it('reads the forward output and the nginx parser from Parsers_File', () => {
    const fwd = spec.outputs[0]!
    expect(fwd.name).toBe('forward')
    expect(fwd.str('host')).toBe('fluentd.logging.svc.cluster.local')
    expect(fwd.int('port', 0)).toBe(24224)
    expect(fwd.str('retry_limit')).toBe('5')
    const nginx = spec.parsers[0]!
    expect(nginx.str('name')).toBe('nginx')
    expect(nginx.str('format')).toBe('regex')
    expect(nginx.str('regex')).toMatch(/^\^\(\?<remote>/)
    expect(nginx.str('time_format')).toBe('%d/%b/%Y:%H:%M:%S %z')
  })

  // biome-ignore lint/suspicious/noTemplateCurlyInString: Fluent Bit's own ${VAR} syntax, not a template
  it('warns, naming file and line, when a ${VAR} is not set', () => {
    const s = pipelineFromClassic(join(fixtures, 'fluent-bit.conf'), {})
    expect(s.warnings).toHaveLength(2)
    expect(s.warnings[0]).toContain('fluent-bit.conf:19')
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Fluent Bit's own ${VAR} syntax, not a template
    expect(s.warnings[0]).toContain('${POD_NAME}')
    expect(s.filters[0]!.all('add').map((p) => p.value)).toEqual(['pod_name', 'namespace'])
  })
})

describe('classic format features', () => {
  it('follows @INCLUDE globs in order and applies @SET variables', () => {
    const dir = write({
      'main.conf': '@SET out_host=10.0.0.9\n[SERVICE]\n    Flush 1\n@INCLUDE conf.d/*.conf\n',
      'conf.d/10-in.conf': '[INPUT]\n    Name tail\n    Path /logs/*.log\n',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Fluent Bit's own ${VAR} syntax, not a template
      'conf.d/20-out.conf': '[OUTPUT]\n    name  FORWARD\n    MATCH *\n    HOST ${out_host}\n',
      'conf.d/ignored.txt': '[BOGUS]\n',
    })
    const s = pipelineFromClassic(join(dir, 'main.conf'), {})
    expect(s.service.flushMs).toBe(1000)
    expect(s.inputs.map((i) => i.str('path'))).toEqual(['/logs/*.log'])
    expect(s.outputs[0]!.name).toBe('forward')
    expect(s.outputs[0]!.str('host')).toBe('10.0.0.9')
  })

  it('rejects an unsupported plugin naming file and line', () => {
    const dir = write({ 'f.conf': '[SERVICE]\n    Flush 1\n\n[OUTPUT]\n    Name kafka\n    Match *\n' })
    const err = problem(() => pipelineFromClassic(join(dir, 'f.conf'), {}))
    expect(err).toBeInstanceOf(UnsupportedPluginError)
    expect(err.message).toContain(`${join(dir, 'f.conf')}:5: output plugin "kafka" is not supported`)
  })

  it('rejects every unsupported key at once, each with file and line', () => {
    const dir = write({
      'f.conf':
        '[INPUT]\n    Name tail\n    Path /x\n    Bogus_Key 1\n[OUTPUT]\n    Name forward\n    Match *\n    Hots example\n',
    })
    const err = problem(() => pipelineFromClassic(join(dir, 'f.conf'), {}))
    expect(err).toBeInstanceOf(PipelineConfigError)
    expect(err.message).toContain('2 problems')
    expect(err.message).toContain(`f.conf:4: key "bogus_key" is not supported by input tail`)
    expect(err.message).toContain(`f.conf:8: key "hots" is not supported by output forward`)
  })

  it('rejects bad lines: unknown sections, unindented keys, entries outside sections, bad commands', () => {
    const cases: Array<[string, RegExp]> = [
      ['[SERVICE]\n    Flush 1\n[PLUGINS]\n', /f\.conf:3: section \[PLUGINS\] is not supported/],
      ['[SERVICE]\nFlush 1\n', /f\.conf:2: entry "Flush 1" must be indented/],
      ['    Flush 1\n', /f\.conf:1: "Flush 1" is outside any \[SECTION\]/],
      ['@FOO bar\n', /f\.conf:1: unknown command @FOO/],
      ['[SERVICE\n', /f\.conf:1: malformed section header/],
      ['@INCLUDE missing.conf\n', /f\.conf:1: @INCLUDE .*missing\.conf: no such file/],
      ['[SERVICE]\n    Flush soon\n', /f\.conf:2: flush must be a time/],
      ['[SERVICE]\n    Daemon On\n', /f\.conf:2: Daemon On is not supported/],
      ['[INPUT]\n    Path /x\n', /f\.conf:1: \[INPUT\] needs a Name/],
    ]
    for (const [text, re] of cases) {
      const dir = write({ 'f.conf': text })
      expect(problem(() => pipelineFromClassic(join(dir, 'f.conf'), {})).message).toMatch(re)
    }
  })

  it('reads a section header with a comment after it, as Fluent Bit does', () => {
    const dir = write({
      'f.conf': '[SERVICE]   # global\n    Flush 2\n[INPUT] # app logs\n    Name tail\n    Path /x/*.log\n',
    })
    const spec = pipelineFromClassic(join(dir, 'f.conf'), {})
    expect(spec.service.flushMs).toBe(2000)
    expect(spec.inputs.map((s) => s.str('path'))).toEqual(['/x/*.log'])
  })

  it('names the Parsers_File line when that file is missing', () => {
    const dir = write({ 'f.conf': '[SERVICE]\n    Parsers_File nope.conf\n' })
    expect(problem(() => pipelineFromClassic(join(dir, 'f.conf'), {})).message).toMatch(
      /f\.conf:2: Parsers_File cannot read .*nope\.conf/,
    )
  })

  it('rejects a parser defined twice', () => {
    const dir = write({
      'f.conf': '[SERVICE]\n    Parsers_File p.conf\n',
      'p.conf': '[PARSER]\n    Name a\n    Format json\n[PARSER]\n    Name a\n    Format json\n',
    })
    expect(problem(() => pipelineFromClassic(join(dir, 'f.conf'), {})).message).toMatch(
      /p\.conf:5: parser "a" is already defined at .*p\.conf:2/,
    )
  })
})

describe('our YAML/JSON pipeline', () => {
  it('takes the same plugins and keys, with repeated keys as lists', () => {
    const s = pipelineFromObject(
      {
        service: { flush: 2 },
        pipeline: {
          inputs: [{ name: 'tail', path: '/logs/*.log', tag: 'app.*' }],
          filters: [{ name: 'modify', match: '*', add: ['a 1', 'b 2'] }],
          outputs: [{ name: 'loki', match: '*', host: 'loki', labels: 'job=x' }],
        },
      },
      'shipper.yaml',
    )
    expect(s.service.flushMs).toBe(2000)
    expect(s.filters[0]!.all('add').map((p) => p.value)).toEqual(['a 1', 'b 2'])
    expect(s.outputs[0]!.name).toBe('loki')
  })

  it('names the YAML key of an unsupported key', () => {
    const err = problem(() =>
      pipelineFromObject({ pipeline: { outputs: [{ name: 'es', match: '*', hots: 'x' }] } }, 'shipper.yaml'),
    )
    expect(err.message).toContain(
      'shipper.yaml pipeline.outputs[0].hots: key "hots" is not supported by output es',
    )
  })
})

describe('keys accepted without effect', () => {
  it('warns naming file and line', () => {
    const dir = write({
      'f.conf': '[INPUT]\n    Name tail\n    Path /x\n    Threaded On\n    storage.type memory\n',
    })
    const s = pipelineFromClassic(join(dir, 'f.conf'), {})
    expect(s.warnings).toEqual([
      `${join(dir, 'f.conf')}:4: threaded is accepted for compatibility and has no effect here`,
    ])
  })
})

describe('keys of common Fluent Bit configs that change nothing here', () => {
  it('are accepted with a warning each (Log_File, the kubernetes API keys, es Buffer_Size/Trace_*); K8S-Logging.* On is refused', () => {
    const dir = write({
      'fluent-bit.conf': `[SERVICE]
    Log_File /var/log/fluent-bit.log
[INPUT]
    Name tail
    Path /var/log/containers/*.log
    Tag kube.*
[FILTER]
    Name                kubernetes
    Match               kube.*
    Kube_URL            https://kubernetes.default.svc:443
    Kube_CA_File        /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
    Kube_Token_File     /var/run/secrets/kubernetes.io/serviceaccount/token
    Merge_Log           On
    K8S-Logging.Parser  Off
    K8S-Logging.Exclude Off
[OUTPUT]
    Name        es
    Match       *
    Buffer_Size False
    Trace_Error On
`,
    })
    const spec = pipelineFromClassic(join(dir, 'fluent-bit.conf'), {})
    for (const k of ['Log_File', 'kube_url', 'kube_ca_file', 'kube_token_file', 'buffer_size', 'trace_error'])
      expect(spec.warnings.join('\n')).toContain(k)
    const quiet = { logger: createLogger({ name: 't', level: 'silent' }), registry: new Registry() }
    expect(() => new Engine(spec, quiet)).not.toThrow()
    const on = pipelineFromObject(
      {
        pipeline: {
          inputs: [{ name: 'tail', path: '/x/*.log' }],
          filters: [{ name: 'kubernetes', match: '*', 'k8s-logging.parser': 'on' }],
        },
      },
      'shipper.yaml',
    )
    expect(() => new Engine(on, quiet)).toThrow(/k8s-logging.parser On needs the Kubernetes API/)
  })
})

describe('bad [PARSER] values', () => {
  it('a bad Time_Format or Time_Offset stops start-up naming the parser and its file and line', () => {
    const dir = write({
      'f.conf':
        '[SERVICE]\n    Parsers_File p.conf\n[INPUT]\n    Name tail\n    Path /x/*.log\n    Parser p2\n',
      'p.conf': `[PARSER]
    Name p1
    Format regex
    Regex ^(?<a>.*)$
    Time_Key a
    Time_Format %Y %Q

[PARSER]
    Name p2
    Format regex
    Regex ^(?<t>.*)$
    Time_Key t
    Time_Format %Y
    Time_Offset 0200
`,
    })
    const spec = pipelineFromClassic(join(dir, 'f.conf'), {})
    const quiet = { logger: createLogger({ name: 't', level: 'silent' }), registry: new Registry() }
    const msg = problem(() => new Engine(spec, quiet)).message
    expect(msg).toMatch(/p\.conf:1: parser p1: time format "%Y %Q": unknown directive %Q/)
    // Read as UTC before, without a word.
    expect(msg).toMatch(/p\.conf:8: parser p2: time offset "0200" is not like \+0200/)
  })
})
