import { describe, expect, it } from 'vitest'
import { identName, stringValue, tokenize, trimStatement } from '../../src/sql/lexer.js'
import { leadingKeyword, splitStatements, stripComments } from '../../src/schema/split.js'

const kinds = (sql: string, comments = false) => tokenize(sql, { comments }).map((t) => `${t.kind}:${t.text}`)

describe('sql lexer', () => {
  it.each([
    ["SELECT 'a;--b' FROM t", ['word:SELECT', "string:'a;--b'", 'word:FROM', 'word:t']],
    ['"a""b" [c d] `e`', ['ident:"a""b"', 'ident:[c d]', 'ident:`e`']],
    [
      "x'00ff' X'' 1.5e3 .5 0x1F 42",
      ["blob:x'00ff'", "blob:X''", 'number:1.5e3', 'number:.5', 'number:0x1F', 'number:42'],
    ],
    ['? ?3 :a @b $c', ['param:?', 'param:?3', 'param::a', 'param:@b', 'param:$c']],
    ['a->>b || c', ['word:a', 'punct:-', 'punct:>', 'punct:>', 'word:b', 'punct:|', 'punct:|', 'word:c']],
    ["'unterminated", ["string:'unterminated"]],
  ])('splits %s', (sql, want) => {
    expect(kinds(sql)).toEqual(want)
  })

  it('keeps comments only when asked, without the newline of a line comment', () => {
    expect(kinds('a -- c\nb /* d */ c')).toEqual(['word:a', 'word:b', 'word:c'])
    expect(kinds('a -- c\nb /* d */ c', true)).toEqual([
      'word:a',
      'comment:-- c',
      'word:b',
      'comment:/* d */',
      'word:c',
    ])
  })

  it('names identifiers and reads strings as SQLite does', () => {
    const [a, b, c, d, s] = tokenize('"a""b" [x y] `q` plain \'it\'\'s\'')
    expect([a, b, c, d].map((t) => identName(t!))).toEqual(['a"b', 'x y', 'q', 'plain'])
    expect(stringValue(s!)).toBe("it's")
    expect(identName(s!)).toBeNull()
  })

  it('trims comments, whitespace and semicolons around a statement', () => {
    expect(trimStatement(' -- x\n ;SELECT 1 ; ; /* y */ ')).toBe('SELECT 1')
    expect(trimStatement(' ; -- only\n')).toBe('')
  })

  it('splits schema files on semicolons outside quotes and comments', () => {
    expect(
      splitStatements("CREATE TABLE a (x TEXT DEFAULT ';'); -- c;\nCREATE TABLE [b;] (y); /* ; */"),
    ).toEqual(["CREATE TABLE a (x TEXT DEFAULT ';')", '-- c;\nCREATE TABLE [b;] (y)'])
    expect(stripComments("a /* x */ b -- y\n'--z'")).toBe("a   b  \n'--z'")
    expect(leadingKeyword('/* c */ (  select 1')).toBe('SELECT')
  })
})
