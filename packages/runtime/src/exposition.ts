// Prometheus text exposition helpers: content types and the conversion of text format 0.0.4 to
// OpenMetrics 1.0 for scrapers that ask for it. The registry renders text format
// once and a scrape that asks for OpenMetrics gets a converted copy (prom-client's OpenMetrics mode
// renamed counters in place on a shared registry).
// Spec: https://github.com/prometheus/OpenMetrics/blob/main/specification/OpenMetrics.md

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8'

/**
 * Whether an Accept header asks for OpenMetrics before the text format: the highest q wins, a tie
 * goes to the type listed first, q=0 refuses (RFC 9110 section 12.5.1), as client_golang's
 * expfmt.Negotiate weighs them. A scraper that prefers text (Prometheus with PrometheusText0.0.4
 * first in scrape_protocols) keeps the counters' names.
 */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  if (!accept?.includes('openmetrics')) return false
  let om = 0
  let text = 0
  let omFirst = false
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.split(';')
    let q = 1
    for (const p of params) {
      const m = /^\s*q\s*=\s*([\d.]+)\s*$/i.exec(p)
      if (m) q = Number(m[1])
    }
    const t = type.trim().toLowerCase()
    if (t === 'application/openmetrics-text') {
      if (q > om) om = q
      if (text === 0) omFirst = true
    } else if (t === 'text/plain' && q > text) text = q
  }
  return om > 0 && (om > text || (om === text && omFirst))
}

/** Converts Prometheus text format to OpenMetrics text, ending with `# EOF`. */
export function toOpenMetrics(text: string): string {
  const lines = text.split('\n')
  const counters = new Set<string>()
  for (const line of lines) {
    const m = /^# TYPE (\S+) counter\s*$/.exec(line)
    if (m) counters.add(m[1]!)
  }
  const out: string[] = []
  for (const line of lines) {
    if (line === '') continue
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(.*)$/.exec(line)
      if (m && counters.has(m[2]!)) {
        out.push(`# ${m[1]} ${m[2]!.replace(/_total$/, '')}${m[3]}`)
      } else if (m) out.push(line)
      continue
    }
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0]
    if (name && counters.has(name) && !name.endsWith('_total')) {
      out.push(`${name}_total${line.slice(name.length)}`)
    } else out.push(line)
  }
  out.push('# EOF')
  return `${out.join('\n')}\n`
}
