// Fluent Bit's routing: an output or filter takes a record when its Match wildcard (`*` spans any
// characters, dots included) or its Match_Regex matches the record's tag.

export type TagMatcher = (tag: string) => boolean

export function compileMatch(match: string | undefined, matchRegex: string | undefined): TagMatcher {
  if (matchRegex !== undefined && matchRegex !== '') {
    const re = new RegExp(matchRegex)
    return (tag) => re.test(tag)
  }
  if (match === undefined || match === '') return () => false
  if (match === '*') return () => true
  const re = new RegExp(`^${match.replace(/[.+^${}()|[\]\\?]/g, '\\$&').replace(/\*/g, '.*')}$`)
  return (tag) => re.test(tag)
}

/**
 * The tag of a tail input for one file: a `*` in the Tag is replaced by the file's path with `/`
 * turned into `.` (Fluent Bit's tail), `Tag nginx.*` + `/var/log/app/a.log` = `nginx.var.log.app.a.log`.
 */
export function expandTag(tag: string, path: string): string {
  if (!tag.includes('*')) return tag
  const flat = path.replace(/^\/+/, '').replace(/\//g, '.')
  return tag.replace('*', flat)
}
