import { describe, expect, it } from 'vitest'
import { toOpenMetrics, wantsOpenMetrics } from './exposition.ts'

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

describe('OpenMetrics negotiation', () => {
  it.each([
    // Prometheus 2.x and 3.x defaults
    [
      'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
      true,
    ],
    [
      'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,text/plain;version=0.0.4;q=0.3,*/*;q=0.2',
      true,
    ],
    // scrape_protocols: [PrometheusText0.0.4, OpenMetricsText1.0.0]
    ['text/plain;version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0;q=0.4,*/*;q=0.1', false],
    ['application/openmetrics-text;q=0, text/plain', false],
    ['text/plain, application/openmetrics-text', false],
    ['application/openmetrics-text, text/plain', true],
    ['text/plain;version=0.0.4', false],
    ['*/*', false],
    [undefined, false],
  ])('%s: %s', (accept, want) => expect(wantsOpenMetrics(accept)).toBe(want))
})
