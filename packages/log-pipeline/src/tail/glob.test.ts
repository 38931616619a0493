import { describe, expect, it } from 'vitest'
import { compileGlob, expandTag, splitGlobList } from './glob.ts'

describe('globs and tags', () => {
  it('compiles Fluent Bit path patterns', () => {
    const g = compileGlob('/var/log/app/*.log')
    expect(g.base).toBe('/var/log/app')
    expect(g.depth).toBe(1)
    expect(g.regex.test('/var/log/app/a.log')).toBe(true)
    expect(g.regex.test('/var/log/app/sub/a.log')).toBe(false)
    expect(g.regex.test('/var/log/app/a.log.1')).toBe(false)
    const deep = compileGlob('/logs/**/app-?.{json,log}')
    expect(deep.depth).toBe(Number.POSITIVE_INFINITY)
    expect(deep.regex.test('/logs/app-1.json')).toBe(true)
    expect(deep.regex.test('/logs/x/y/app-2.log')).toBe(true)
    expect(deep.regex.test('/logs/x/app-22.log')).toBe(false)
    expect(compileGlob('/raw-logs/application.log').base).toBe('/raw-logs')
    expect(compileGlob('/a/[!x]b.log').regex.test('/a/yb.log')).toBe(true)
    expect(compileGlob('/a/[!x]b.log').regex.test('/a/xb.log')).toBe(false)
  })
  it('splits comma-separated lists but not braces', () => {
    expect(splitGlobList('/a/*.log, /b/{x,y}.log,')).toEqual(['/a/*.log', '/b/{x,y}.log'])
    expect(splitGlobList(['/c'])).toEqual(['/c'])
  })
  it('expands * in tags to the dotted path', () => {
    expect(expandTag('nginx.*', '/var/log/app/access.log')).toBe('nginx.var.log.app.access.log')
    expect(expandTag('fixed', '/x')).toBe('fixed')
  })
})
