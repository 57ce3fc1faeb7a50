/**
 * Benchmark runner: `pnpm bench <name>` where name is one of the files in this folder.
 * Each benchmark prints a table and writes bench/results/<name>.json.
 */
const name = process.argv[2]
const known = ['core', 'cluster', 'api', 'edge', 'h2c', 'peers', 'sim', 'stall']
if (name === undefined || !known.includes(name)) {
  console.error(`usage: pnpm bench <${known.join('|')}>`)
  process.exit(2)
}
const mod = (await import(`./${name}.js`)) as { run(): Promise<void> }
await mod.run()
