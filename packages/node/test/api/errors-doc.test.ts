import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ERROR_CODES } from '@patina/api'
import { describe, expect, it } from 'vitest'

const doc = fs.readFileSync(
  path.join(path.dirname(fileURLToPath(import.meta.url)), '../../../../docs/errors.md'),
  'utf8',
)

/** `## CODE` headings with the status their section states. */
function sections(): Map<string, number | null> {
  const out = new Map<string, number | null>()
  const parts = doc.split(/^## /m).slice(1)
  for (const p of parts) {
    const [heading = '', ...rest] = p.split('\n')
    const m = /HTTP status: (\d{3})/.exec(rest.join('\n'))
    out.set(heading.trim(), m ? Number(m[1]) : null)
  }
  return out
}

describe('docs/errors.md', () => {
  it('has a heading for every error code', () => {
    const documented = sections()
    const missing = Object.keys(ERROR_CODES).filter((c) => !documented.has(c))
    expect(missing).toEqual([])
  })

  it('documents no code that does not exist', () => {
    const unknown = [...sections().keys()].filter((c) => !Object.hasOwn(ERROR_CODES, c))
    expect(unknown).toEqual([])
  })

  it('states the HTTP status of each code as the code table maps it', () => {
    for (const [code, status] of sections()) {
      expect(status, code).toBe(ERROR_CODES[code as keyof typeof ERROR_CODES])
    }
  })
})
