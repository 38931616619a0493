// Fluent Bit's regexes may be written `/pattern/` or `/pattern/flags`: flb_regex.c strips the
// slashes (flags i, m, x, o), for a parser's Regex and a multiline rule alike; its stock
// parsers.conf has `Regex /^\<(?<pri>...$/`.

/** `/pattern/flags` to `(?flags)pattern`, which the regex translation reads (Ruby's m is JavaScript's s); anything else as it is. */
export function slashRegex(re: string): string
export function slashRegex(re: string | undefined): string | undefined
export function slashRegex(re: string | undefined): string | undefined {
  const m = re === undefined ? null : /^\/([\s\S]*)\/([imox]*)$/.exec(re)
  if (!m) return re
  const flags = m[2]!.replace(/o/g, '')
  return flags ? `(?${flags})${m[1]}` : m[1]
}
