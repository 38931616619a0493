import { describe, expect, it } from 'vitest'
import { parsePromText } from '../../runtime/test/prom-text.ts'
import { FetchConnectError } from './errors.ts'
import { escapeLabelValue, makeGroup, renderGroup, renderLabels } from './exposition.ts'
import { nginxSource } from './sources/nginx.ts'
import type { Target } from './target.ts'

const STUB = Buffer.from(
  'Active connections: 3 \nserver accepts handled requests\n 10 10 20 \nReading: 0 Writing: 1 Waiting: 2 \n',
)

describe('exposition', () => {
  it('escapes and sorts labels', () => {
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd')
    expect(
      renderLabels([
        ['z', '1'],
        ['a', 'x"y'],
      ]),
    ).toBe('{a="x\\"y",z="1"}')
    expect(renderLabels([])).toBe('')
  })

  it('prints each family once across targets, and only up 0 for a failed target', () => {
    const fake = (addr: string) => ({ addr }) as unknown as Target
    const group = makeGroup(nginxSource, [
      {
        target: fake('a'),
        pairs: [
          ['env', 'prod'],
          ['addr', 'http://a/'],
        ],
      },
      {
        target: fake('b'),
        pairs: [
          ['env', 'prod'],
          ['addr', 'unix:/b.sock:/s'],
        ],
      },
    ])
    const text = renderGroup(group, [
      { ok: true, samples: nginxSource.parse(STUB) },
      { ok: false, error: new FetchConnectError('refused') },
    ])
    const fams = parsePromText(text)
    expect(fams.get('nginx_connections_active')!.samples).toEqual([
      { name: 'nginx_connections_active', labels: { addr: 'http://a/', env: 'prod' }, value: 3 },
    ])
    expect(fams.get('nginx_up')!.samples.map((s) => [s.labels.addr, s.value])).toEqual([
      ['http://a/', 1],
      ['unix:/b.sock:/s', 0],
    ])
    expect(text).toContain(
      '# HELP nginx_connections_writing Connections where NGINX is writing the response back to the client\n',
    )
    expect(text).toContain('# TYPE nginx_http_requests_total counter\n')
  })

  it('prints nothing but up when every target failed', () => {
    const group = makeGroup(nginxSource, [{ target: {} as Target, pairs: [] }])
    expect(renderGroup(group, [{ ok: false, error: new FetchConnectError('x') }])).toBe(
      '# HELP nginx_up Status of the last metric scrape\n# TYPE nginx_up gauge\nnginx_up 0\n',
    )
  })
})
