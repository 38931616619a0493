import { describe, expect, it } from 'vitest'
import { compileMatch, expandTag } from './match.ts'

describe('Match and Tag', () => {
  it('matches * across dots and anchors the pattern', () => {
    const m = compileMatch('nginx.*', undefined)
    expect(m('nginx.var.log.app.access.log')).toBe(true)
    expect(m('app.nginx.x')).toBe(false)
    expect(compileMatch('*', undefined)('anything.at.all')).toBe(true)
    expect(compileMatch('kube.*.log', undefined)('kube.a.b.log')).toBe(true)
    expect(compileMatch('kube.*.log', undefined)('kube.a.b.txt')).toBe(false)
  })
  it('Match_Regex wins over Match; no Match routes nothing', () => {
    expect(compileMatch('x', '^nginx\\.(a|b)$')('nginx.b')).toBe(true)
    expect(compileMatch(undefined, undefined)('nginx')).toBe(false)
  })
  it('expands the tail Tag from the file path', () => {
    expect(expandTag('nginx.*', '/var/log/app/access.log')).toBe('nginx.var.log.app.access.log')
    expect(expandTag('fixed', '/var/log/app/access.log')).toBe('fixed')
  })
})
