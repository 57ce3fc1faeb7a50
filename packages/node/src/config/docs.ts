/**
 * Generates `docs/config.md` from the schema: every key with its type, default, environment
 * variable, aliases and doc. A test fails when the committed file differs from
 * {@link renderConfigDocs}; regenerate with `pnpm docs:config` (which runs this file).
 */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { CORROSION_ONLY_KEYS } from './schema.js'
import { CONFIG_ALIASES, CONFIG_KEYS, type KeySpec } from './spec.js'

/** Location of the generated file, relative to this module. */
export const CONFIG_DOCS_PATH = fileURLToPath(new URL('../../../../docs/config.md', import.meta.url))

function showDefault(k: KeySpec): string {
  if (k.meta.defaultLabel !== undefined) return `\`${k.meta.defaultLabel}\``
  if (k.defaultValue === undefined) return 'unset'
  return `\`${JSON.stringify(k.defaultValue)}\``
}

function sectionOf(k: KeySpec): string {
  return k.path.slice(0, -1).join('.')
}

function aliasesOf(k: KeySpec): string[] {
  const section = k.path.slice(0, -1)
  const leaf = k.path[k.path.length - 1]
  return CONFIG_ALIASES.filter((a) => a.to === leaf && a.section.join('.') === section.join('.')).map(
    (a) => a.from,
  )
}

const escapeCell = (s: string) => s.replace(/\|/g, '\\|')

/** The whole markdown document. Pure. */
export function renderConfigDocs(): string {
  const out: string[] = []
  out.push(
    '# Configuration',
    '',
    '<!-- Generated from packages/node/src/config/schema.ts by `pnpm docs:config`; do not edit by hand. -->',
    '',
    'A Patina worker reads one TOML file (`patina -c config.toml agent`). Section and key names are',
    "Corrosion's wherever a feature exists in both, so a Corrosion config such as its quick-start",
    'one loads unchanged apart from paths. Patina-only keys carry their unit in the name (`_ms`, `_bytes`).',
    '',
    '## Precedence',
    '',
    'Lowest to highest; each level overrides the ones above it:',
    '',
    '1. the defaults below;',
    '2. the TOML file given with `-c/--config` (or `PATINA_CONFIG`);',
    '3. environment variables: `PATINA_` + the key path in capitals with `__` between levels',
    '   (`PATINA_API__ADDR`, `PATINA_GOSSIP__CLUSTER_ID`). Lists are comma-separated',
    '   (`PATINA_GOSSIP__BOOTSTRAP=10.0.0.2:8787,10.0.0.3:8787`) or JSON (`["a:1","b:2"]`);',
    '4. command-line flags: `--api-addr`, `--db-path`, `--admin-path`, and `--set key=value` for any',
    '   key (`--set gossip.cluster_id=3`, `--set api.limits.body_max_bytes=1048576`).',
    '',
    'The result is validated once and frozen. An invalid value stops start-up with',
    '`PATINA_ERR_CONFIG_INVALID` and a message naming the key, the value, what is allowed and where',
    'the value came from, for example:',
    '',
    '```',
    'gossip.cluster_id value 70000 is above maximum 65535 (from environment variable PATINA_GOSSIP__CLUSTER_ID)',
    '```',
    '',
    'Unknown keys are errors (with a "did you mean" hint). Relative paths are resolved against the',
    'working directory.',
    '',
    '## Example',
    '',
    "Corrosion's quick-start config, which Patina accepts as is:",
    '',
    '```toml',
    '[db]',
    'path = "/var/lib/corrosion/state.db"',
    'schema_paths = ["/etc/corrosion/schema"]',
    '',
    '[gossip]',
    'addr = "[::]:8787"',
    'plaintext = true',
    '',
    '[api]',
    'addr = "127.0.0.1:8080"',
    '',
    '[admin]',
    'path = "/var/run/corrosion/admin.sock"',
    '```',
    '',
    'See `deploy/config/` for commented examples.',
    '',
  )
  const sections: string[] = []
  for (const k of CONFIG_KEYS) if (!sections.includes(sectionOf(k))) sections.push(sectionOf(k))
  for (const section of sections) {
    const keys = CONFIG_KEYS.filter((k) => sectionOf(k) === section)
    out.push(
      `## \`[${section}]\``,
      '',
      '| Key | Type | Default | Environment variable |',
      '|---|---|---|---|',
    )
    for (const k of keys) {
      out.push(
        `| \`${k.path[k.path.length - 1] ?? ''}\` | ${escapeCell(k.type)} | ${escapeCell(showDefault(k))} | \`${k.env}\` |`,
      )
    }
    out.push('')
    for (const k of keys) {
      const aliases = aliasesOf(k)
      const aliasText = aliases.length > 0 ? ` Alias: ${aliases.map((a) => `\`${a}\``).join(', ')}.` : ''
      out.push(`- **\`${k.name}\`**: ${k.meta.doc}${aliasText}`)
    }
    out.push('')
  }
  const sectionAliases = CONFIG_ALIASES.filter(
    (a) => !CONFIG_KEYS.some((k) => k.name === [...a.section, a.to].join('.')),
  )
  if (sectionAliases.length > 0) {
    out.push('## Section aliases', '')
    for (const a of sectionAliases)
      out.push(
        `- \`${[...a.section, a.from].join('.')}\` is another name of \`${[...a.section, a.to].join('.')}\`.`,
      )
    out.push('')
  }
  out.push(
    '## Corrosion settings Patina ignores',
    '',
    'These Corrosion keys are accepted so that Corrosion configs load, and reported as a warning at',
    'start-up; they have no effect:',
    '',
    ...CORROSION_ONLY_KEYS.map((k) =>
      k.endsWith('.*') ? `- the whole \`[${k.slice(0, -2)}]\` section` : `- \`${k}\``,
    ),
    '',
  )
  return out.join('\n')
}

/** Writes {@link renderConfigDocs} to `docs/config.md`. */
export function writeConfigDocs(path: string = CONFIG_DOCS_PATH): void {
  writeFileSync(path, renderConfigDocs())
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeConfigDocs()
  process.stdout.write(`wrote ${CONFIG_DOCS_PATH}\n`)
}
