// Reads the Prometheus text format just enough for the demo: each metric's samples summed over
// their labels (histogram buckets and sums are left out).
export function sumSamples(text: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line)
    if (!m) continue
    const name = m[1]!
    if (name.endsWith('_bucket')) continue
    const v = Number(m[3])
    if (Number.isFinite(v)) out[name] = (out[name] ?? 0) + v
  }
  return out
}
