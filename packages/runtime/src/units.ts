// Durations and sizes as people write them in Kubernetes manifests and Fluent Bit / PgBouncer
// configs ("5s", "250ms", "1m", "5MB", "64k"), turned into milliseconds and bytes.

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
}

/**
 * Parses "1.5s", "250ms", "2m", "1h30m" or a bare number (in `bareUnit`, milliseconds by default).
 * Returns undefined when the text is not a duration.
 */
export function parseDuration(
  input: string | number,
  bareUnit: keyof typeof DURATION_UNITS = 'ms',
): number | undefined {
  if (typeof input === 'number')
    return Number.isFinite(input) && input >= 0 ? input * DURATION_UNITS[bareUnit]! : undefined
  const text = input.trim().toLowerCase()
  if (text === '') return undefined
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * DURATION_UNITS[bareUnit]!
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy
  let total = 0
  let consumed = 0
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!
    consumed = re.lastIndex
  }
  return consumed === text.length && consumed > 0 ? total : undefined
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
}

/** Parses "5MB", "64k", "1GiB" or a bare byte count. Units are binary, as Fluent Bit reads them. */
export function parseSize(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isFinite(input) && input >= 0 ? Math.floor(input) : undefined
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(input)
  if (!m) return undefined
  const unit = SIZE_UNITS[m[2]!.toLowerCase()]
  return unit === undefined ? undefined : Math.floor(Number(m[1]) * unit)
}
