// A monotonic clock in milliseconds. The global `performance` is a lazy getter that loads
// node:perf_hooks and its observers (~0.4 MiB resident) on first use; process.hrtime is the same
// clock without them.

/** Milliseconds on a monotonic clock (for durations, not dates). */
export function nowMs(): number {
  const t = process.hrtime()
  return t[0] * 1e3 + t[1] / 1e6
}

// Dates without Date objects. The first Date a process makes loads the host's time zone from ICU's
// data (~0.5 MiB resident on Node 26), even for UTC output; log lines and HTTP Date headers need
// only UTC, which is arithmetic on the epoch milliseconds.

/** Year, month (1-12) and day of a day count since 1970-01-01 (proleptic Gregorian). */
function civil(days: number): [number, number, number] {
  // Howard Hinnant's civil_from_days.
  const z = days + 719468
  const era = Math.floor(z / 146097)
  const doe = z - era * 146097
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  )
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1
  const m = mp < 10 ? mp + 3 : mp - 9
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d]
}

const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`)
const pad3 = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`)
const year4 = (y: number) =>
  y >= 0 && y <= 9999
    ? `${y}`.padStart(4, '0')
    : y < 0
      ? `-${`${-y}`.padStart(6, '0')}`
      : `+${`${y}`.padStart(6, '0')}`

/** Calendar date and time of day (UTC) of epoch milliseconds, and the day count. */
function utc(ms: number) {
  const days = Math.floor(ms / 86400000)
  const rem = ms - days * 86400000
  const [y, m, d] = civil(days)
  return {
    days,
    y,
    m,
    d,
    hms: `${pad2(Math.floor(rem / 3600000))}:${pad2(Math.floor((rem % 3600000) / 60000))}:${pad2(Math.floor((rem % 60000) / 1000))}`,
    msec: rem % 1000,
  }
}

/** `new Date(ms).toISOString()`: `2026-11-24T22:48:19.123Z`. */
export function isoTime(ms: number): string {
  const t = utc(ms)
  return `${year4(t.y)}-${pad2(t.m)}-${pad2(t.d)}T${t.hms}.${pad3(t.msec)}Z`
}

const WEEKDAYS = ['Thu', 'Fri', 'Sat', 'Sun', 'Mon', 'Tue', 'Wed'] // 1970-01-01 was a Thursday
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/** An HTTP date (RFC 9110 IMF-fixdate), `new Date(ms).toUTCString()`: `Tue, 24 Nov 2026 22:48:19 GMT`. */
export function httpDate(ms: number): string {
  const t = utc(ms)
  return `${WEEKDAYS[((t.days % 7) + 7) % 7]}, ${pad2(t.d)} ${MONTHS[t.m - 1]} ${year4(t.y)} ${t.hms} GMT`
}
