// Pieces of the Prometheus text format 0.0.4 shared by every metric type: escaping and number
// formatting, written as prom-client 15 wrote them so that a page keeps its bytes across the switch.
// Spec: https://prometheus.io/docs/instrumenting/exposition_formats/#text-format-details

/** HELP text: backslash and line feed escaped. */
export function escapeHelp(s: string): string {
  return s.includes('\\') || s.includes('\n') ? s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n') : s
}

/** A label value: backslash, line feed and double quote escaped. */
export function escapeLabelValue(v: string | number): string {
  const s = typeof v === 'string' ? v : String(v)
  // Most values need nothing: test once instead of running three replaces per value.
  return /[\\\n"]/.test(s) ? s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : s
}

/**
 * A sample value. NaN is written `NaN` (prom-client wrote `Nan`, which Prometheus happens to accept
 * because Go's ParseFloat ignores case; the spec spells it NaN).
 */
export function formatValue(v: number): string {
  if (Number.isFinite(v)) return `${v}`
  if (Number.isNaN(v)) return 'NaN'
  return v < 0 ? '-Inf' : '+Inf'
}

/** `a="1",b="2"` in the labels' own key order (no braces); undefined values are left out. */
export function labelPairs(labels: Readonly<Record<string, string | number | undefined>>): string {
  let out = ''
  for (const k in labels) {
    const v = labels[k]
    if (v === undefined) continue
    out += `${out === '' ? '' : ','}${k}="${escapeLabelValue(v)}"`
  }
  return out
}

/** `{pairs}` or '' when there are none. */
export function braces(pairs: string): string {
  return pairs === '' ? '' : `{${pairs}}`
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

export function validMetricName(name: string): boolean {
  return METRIC_NAME.test(name)
}

export function validLabelName(name: string): boolean {
  return LABEL_NAME.test(name)
}
