import { describe, expect, it } from 'vitest'
import { toOpenMetrics } from './exposition.ts'

describe('toOpenMetrics', () => {
  it('names counter families without _total, samples with it, and ends with # EOF', () => {
    const text = [
      '# HELP nginx_http_requests_total Total http requests',
      '# TYPE nginx_http_requests_total counter',
      'nginx_http_requests_total 12',
      '# HELP x_accepted Accepted',
      '# TYPE x_accepted counter',
      'x_accepted{a="b"} 3',
      '# HELP g A gauge',
      '# TYPE g gauge',
      'g 1',
      '',
    ].join('\n')
    expect(toOpenMetrics(text)).toBe(
      [
        '# HELP nginx_http_requests Total http requests',
        '# TYPE nginx_http_requests counter',
        'nginx_http_requests_total 12',
        '# HELP x_accepted Accepted',
        '# TYPE x_accepted counter',
        'x_accepted_total{a="b"} 3',
        '# HELP g A gauge',
        '# TYPE g gauge',
        'g 1',
        '# EOF',
        '',
      ].join('\n'),
    )
  })
})
