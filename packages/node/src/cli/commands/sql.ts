/** `exec`, `query` and `subscribe`: the SQL commands, over the HTTP API (like Corrosion's). */
import type { Command } from 'commander'
import { InvalidArgumentError, Option } from 'commander'
import type { JsonSqlValue } from '@patina/api'
import { ExitError, firstRequest, withApi, type CliDeps } from '../context.js'
import {
  formatPlainRow,
  QUERY_FORMATS,
  renderTable,
  rowObject,
  jsonParam,
  statementOf,
  textParam,
  type CliParam,
  type QueryFormat,
} from '../format.js'
import { resumingSubscription } from '@patina/client'

function seconds(value: string): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number of seconds >= 0')
  return n
}

function changeId(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a change id (integer >= 0)')
  return n
}

const timeoutOpts = (timeout: number | undefined) =>
  timeout === undefined ? {} : { timeoutMs: timeout * 1000 }

export function registerSqlCommands(program: Command, deps: CliDeps): void {
  program
    .command('exec')
    .description('Run a SQL statement that changes the state, in one transaction (POST /v1/transactions)')
    .argument('<sql>', 'the statement, e.g. "INSERT INTO todos (id, title) VALUES (?, ?)"')
    .option('--param <text>', 'a positional parameter, bound as text (as Corrosion) (repeatable)', textParam)
    .option(
      '--param-json <json>',
      'a positional parameter given as JSON and bound by its type: 42 integer, 4.5 real, null, true, [1,255] blob (repeatable)',
      jsonParam,
    )
    .option('--timer', 'print how long each statement took')
    .option('--timeout <seconds>', 'give up after this many seconds', seconds)
    .addHelpText(
      'after',
      "\nExample:\n  patina exec --param some-id --param 'Write docs' --param-json 3 'INSERT INTO todos (id, title, priority) VALUES (?, ?, ?)'",
    )
    .action(
      async (
        sql: string,
        opts: { param?: CliParam[]; paramJson?: CliParam[]; timer?: boolean; timeout?: number },
        cmd: Command,
      ) => {
        await withApi(cmd, deps, async (api, url) => {
          const res = await firstRequest(deps, url, () =>
            api.transaction([statementOf(sql, opts.param, opts.paramJson)], timeoutOpts(opts.timeout)),
          )
          let failed = false
          for (const r of res.results) {
            if ('error' in r) {
              failed = true
              deps.stderr.write(`error: ${r.error}\n`)
              continue
            }
            deps.stdout.write(`Rows affected: ${r.rows_affected}\n`)
            if (opts.timer) deps.stdout.write(`Run Time: real ${r.time}\n`)
          }
          if (failed) throw new ExitError(1)
        })
      },
    )

  program
    .command('query')
    .description('Run a read-only SQL query (POST /v1/queries) and print the rows')
    .argument('<sql>', 'the query, e.g. "SELECT * FROM todos"')
    .option('--columns', 'print the column names first')
    .option('--param <text>', 'a positional parameter, bound as text (as Corrosion) (repeatable)', textParam)
    .option(
      '--param-json <json>',
      'a positional parameter given as JSON and bound by its type: 42 integer, 4.5 real, null, true, [1,255] blob (repeatable)',
      jsonParam,
    )
    .option('--timer', 'print the server-side execution time')
    .option('--timeout <seconds>', 'give up after this many seconds', seconds)
    .addOption(
      new Option(
        '--format <format>',
        'plain: cells joined by | (as Corrosion); table: aligned; json: one object per row',
      )
        .choices(QUERY_FORMATS)
        .default('plain'),
    )
    .action(
      async (
        sql: string,
        opts: {
          columns?: boolean
          param?: CliParam[]
          paramJson?: CliParam[]
          timer?: boolean
          timeout?: number
          format: QueryFormat
        },
        cmd: Command,
      ) => {
        await withApi(cmd, deps, async (api, url) => {
          const stream = await firstRequest(deps, url, () =>
            api.query(statementOf(sql, opts.param, opts.paramJson), timeoutOpts(opts.timeout)),
          )
          let columns: string[] = []
          const buffered: JsonSqlValue[][] = []
          for await (const ev of stream) {
            if ('columns' in ev) {
              columns = ev.columns
              if (opts.columns && opts.format === 'plain') deps.stdout.write(columns.join('|') + '\n')
            } else if ('row' in ev) {
              const cells = ev.row[1]
              if (opts.format === 'plain') deps.stdout.write(formatPlainRow(cells) + '\n')
              else if (opts.format === 'json')
                deps.stdout.write(JSON.stringify(rowObject(columns, cells)) + '\n')
              else buffered.push(cells)
            } else if ('eoq' in ev) {
              if (opts.format === 'table') deps.stdout.write(renderTable(columns, buffered))
              if (opts.timer) deps.stdout.write(`time: ${ev.eoq.time}s\n`)
            } else if ('error' in ev) {
              deps.stderr.write(`error: ${ev.error}\n`)
              throw new ExitError(1)
            }
          }
        })
      },
    )

  program
    .command('subscribe')
    .description(
      'Subscribe to a query (POST /v1/subscriptions) and print its events as NDJSON; resumes after a disconnect',
    )
    .argument('<sql>', 'the query, e.g. "SELECT host, backend_addr FROM routes"')
    .option('--param <text>', 'a positional parameter, bound as text (as Corrosion) (repeatable)', textParam)
    .option(
      '--param-json <json>',
      'a positional parameter given as JSON and bound by its type: 42 integer, 4.5 real, null, true, [1,255] blob (repeatable)',
      jsonParam,
    )
    .option('--from <change_id>', 'replay only the changes after this change id', changeId)
    .option('--skip-rows', 'no initial snapshot: changes only')
    .addHelpText(
      'after',
      '\nEvents: {"columns":[...]}, {"row":[rowid,[...]]}, {"eoq":{"time":..,"change_id":..}},\n' +
        '{"change":["insert"|"update"|"delete",rowid,[...],change_id]}. Stop with Ctrl-C.',
    )
    .action(
      async (
        sql: string,
        opts: { param?: CliParam[]; paramJson?: CliParam[]; from?: number; skipRows?: boolean },
        cmd: Command,
      ) => {
        await withApi(cmd, deps, async (api) => {
          const events = resumingSubscription(api, statementOf(sql, opts.param, opts.paramJson), {
            ...(opts.from === undefined ? {} : { from: opts.from }),
            ...(opts.skipRows === undefined ? {} : { skipRows: opts.skipRows }),
            signal: deps.shutdown,
            onNotice: (m) => deps.stderr.write(`${m}\n`),
          })
          const stop = new Promise<'stop'>((resolve) => {
            if (deps.shutdown.aborted) resolve('stop')
            deps.shutdown.addEventListener('abort', () => resolve('stop'), { once: true })
          })
          const it = events[Symbol.asyncIterator]()
          for (;;) {
            const next = await Promise.race([it.next(), stop])
            if (next === 'stop' || next.done) break
            deps.stdout.write(JSON.stringify(next.value) + '\n')
          }
          void it.return?.(undefined)
        })
      },
    )
}
