import { describe, expect, it } from 'vitest'
import { ParseError, SourceDefinitionError } from './errors.ts'
import { defineSource, type Sample, type Source } from './source.ts'
import { apacheSource } from './sources/apache.ts'
import { phpFpmSource } from './sources/php-fpm.ts'

const named = (src: Source, samples: Sample[]) =>
  samples.map((s) => ({ name: src.families[s.family]!.name, labels: s.labels ?? {}, value: s.value }))

// mod_status ?auto of httpd 2.4 (event MPM), as documented and as httpd prints it.
const APACHE = `localhost
ServerVersion: Apache/2.4.57 (Debian)
ServerMPM: event
Server Built: 2023-04-13T13:00:00
CurrentTime: Tuesday, 24-Nov-2026 16:00:00 UTC
ServerUptimeSeconds: 3600
Load1: 0.10
Total Accesses: 1234
Total kBytes: 567
Total Duration: 890
CPULoad: .0512
Uptime: 3600
ReqPerSec: .342778
BusyWorkers: 2
IdleWorkers: 73
Processes: 3
ConnsTotal: 4
ConnsAsyncWriting: 1
ConnsAsyncKeepAlive: 2
ConnsAsyncClosing: 0
Scoreboard: __W_K_....._R
`

const FPM = `pool:                 www
process manager:      dynamic
start time:           24/Nov/2026:16:00:00 +0000
start since:          120
accepted conn:        42
listen queue:         0
max listen queue:     1
listen queue len:     128
idle processes:       2
active processes:     1
total processes:      3
max active processes: 2
max children reached: 0
slow requests:        5
`

describe('declared sources', () => {
  it('reads Apache mod_status ?auto, counting the scoreboard', () => {
    const s = named(apacheSource, apacheSource.parse(Buffer.from(APACHE)))
    expect(s).toContainEqual({ name: 'apache_accesses_total', labels: {}, value: 1234 })
    expect(s).toContainEqual({ name: 'apache_workers', labels: { state: 'busy' }, value: 2 })
    expect(s).toContainEqual({ name: 'apache_workers', labels: { state: 'idle' }, value: 73 })
    expect(s).toContainEqual({ name: 'apache_connections', labels: { state: 'keepalive' }, value: 2 })
    expect(s).toContainEqual({ name: 'apache_scoreboard', labels: { state: 'idle' }, value: 5 })
    expect(s).toContainEqual({ name: 'apache_scoreboard', labels: { state: 'open_slot' }, value: 5 })
    expect(s).toContainEqual({ name: 'apache_scoreboard', labels: { state: 'reply' }, value: 1 })
    expect(s).toContainEqual({ name: 'apache_scoreboard', labels: { state: 'dns' }, value: 0 })
    expect(s).toContainEqual({ name: 'apache_cpuload', labels: {}, value: 0.0512 })
  })

  it('reads the PHP-FPM status page with the pool as a label', () => {
    const s = named(phpFpmSource, phpFpmSource.parse(Buffer.from(FPM)))
    expect(s).toContainEqual({ name: 'phpfpm_accepted_connections', labels: { pool: 'www' }, value: 42 })
    expect(s).toContainEqual({ name: 'phpfpm_listen_queue_length', labels: { pool: 'www' }, value: 128 })
    expect(s).toContainEqual({ name: 'phpfpm_slow_requests', labels: { pool: 'www' }, value: 5 })
    expect(s.find((x) => x.name === 'phpfpm_listen_queue')!.value).toBe(0)
  })

  it('reads the pool once from a PHP-FPM ?full page, whose process blocks repeat keys', () => {
    // pm.status_path?full: one block per process after the pool's lines (php.net fpm.status).
    const full = `${FPM}
************************
pid:                  31
state:                Idle
start time:           24/Nov/2026:16:00:00 +0000
start since:          118
requests:             21
request duration:     159
request method:       GET
request URI:          /index.php?a=b
content length:       0
user:                 -
script:               /var/www/html/index.php
last request cpu:     0.00
last request memory:  2097152
`
    const s = named(phpFpmSource, phpFpmSource.parse(Buffer.from(full)))
    expect(s.filter((x) => x.name === 'phpfpm_start_since')).toEqual([
      { name: 'phpfpm_start_since', labels: { pool: 'www' }, value: 120 },
    ])
    expect(s).toHaveLength(11)
  })

  it('refuses a page that is not the source', () => {
    expect(() => apacheSource.parse(Buffer.from('<html>404</html>'))).toThrow(ParseError)
    expect(() => phpFpmSource.parse(Buffer.from(APACHE))).toThrow(/missing "accepted conn"/)
    expect(() =>
      apacheSource.parse(Buffer.from(APACHE.replace('BusyWorkers: 2', 'BusyWorkers: two'))),
    ).toThrow(/BusyWorkers: expected a number/)
  })

  it('supports regex rules with group labels', () => {
    const src = defineSource({
      name: 'queues',
      up: { name: 'queues_up', help: 'Could the queue page be read' },
      rules: [
        {
          regex: /^queue (?<name>\w+) depth (?<value>\d+)$/,
          metric: 'queue_depth',
          type: 'gauge',
          help: 'Messages waiting',
          labels: { queue: '$<name>' },
        },
      ],
    })
    expect(named(src, src.parse(Buffer.from('queue a depth 3\nqueue b depth 7\nother line\n')))).toEqual([
      { name: 'queue_depth', labels: { queue: 'a' }, value: 3 },
      { name: 'queue_depth', labels: { queue: 'b' }, value: 7 },
    ])
    expect(() => src.parse(Buffer.from('nothing here'))).toThrow(/no line matched/)
  })

  it('rejects inconsistent definitions', () => {
    const up = { name: 'x_up', help: 'up' }
    expect(() =>
      defineSource({ name: 'x', up, rules: [{ metric: 'x_a', type: 'gauge', help: 'a' }] }),
    ).toThrow(SourceDefinitionError)
    expect(() =>
      defineSource({
        name: 'x',
        up,
        rules: [
          { key: 'a', metric: 'x_a', type: 'gauge', help: 'a' },
          { key: 'b', metric: 'x_a', type: 'counter', help: 'a' },
        ],
      }),
    ).toThrow(/declared twice/)
    expect(() =>
      defineSource({ name: 'x', up, rules: [{ key: 'a', metric: 'x-a', type: 'gauge', help: 'a' }] }),
    ).toThrow(/not a metric name/)
  })
})
