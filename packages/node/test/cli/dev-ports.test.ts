import { createServer, type Server } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { cliName } from '../../src/cli/commands/dev.js'
import { planDev } from '../../src/cli/dev-plan.js'
import {
  basePorts,
  classifyWorkerAnswer,
  devPorts,
  portFree,
  portsTakenMessage,
  takenPorts,
} from '../../src/cli/dev-ports.js'

const member = (self: boolean, gossip_addrs: unknown) => ({
  actor_id: 'a',
  self,
  gossip_addrs,
  state: 'alive',
})

describe('classifyWorkerAnswer', () => {
  it.each([
    ['our worker (multiaddr)', 200, { members: [member(true, ['/ip4/127.0.0.1/tcp/8180'])] }, 'ours'],
    [
      'our worker (multiaddr with peer id)',
      200,
      {
        members: [
          member(false, ['/ip4/127.0.0.1/tcp/8181']),
          member(true, ['/ip4/127.0.0.1/tcp/8180/p2p/12D3']),
        ],
      },
      'ours',
    ],
    ['our worker (host:port)', 200, { members: [member(true, ['127.0.0.1:8180'])] }, 'ours'],
    ['another Patina worker', 200, { members: [member(true, ['/ip4/127.0.0.1/tcp/9180'])] }, 'other-patina'],
    [
      'a port that only starts like ours',
      200,
      { members: [member(true, ['/ip4/127.0.0.1/tcp/81801'])] },
      'other-patina',
    ],
    ['a worker whose cluster is not up yet (no members)', 200, { members: [] }, 'starting'],
    [
      'ours only as a peer, self not listed yet',
      200,
      { members: [member(false, ['/ip4/127.0.0.1/tcp/8180'])] },
      'starting',
    ],
    ['self without addresses yet', 200, { members: [{ self: true }] }, 'starting'],
    ['self with an empty address list', 200, { members: [member(true, [])] }, 'starting'],
    ['no members key', 200, { response: { gaps: 0 } }, 'not-patina'],
    ['members not a list', 200, { members: 'x' }, 'not-patina'],
    ['a JSON null', 200, null, 'not-patina'],
    [
      'an error status with a Patina body',
      404,
      { members: [member(true, ['127.0.0.1:8180'])] },
      'not-patina',
    ],
  ])('%s', (_name, status, body, want) => {
    expect(classifyWorkerAnswer(status, JSON.stringify(body), 8180)).toBe(want)
  })

  it.each([
    ['an HTML error page (python -m http.server answering a GET)', 501, '<!DOCTYPE HTML>\n<html>...'],
    ['plain text', 200, 'hello'],
    ['empty', 200, ''],
  ])('%s is not a Patina worker', (_name, status, body) => {
    expect(classifyWorkerAnswer(status, body, 8180)).toBe('not-patina')
  })
})

describe('ports of a plan', () => {
  it('lists every API, gossip and edge port with what needs it', () => {
    const plan = planDev({ workers: 2, edges: 1, dir: '/d' }, { basePort: 8080 })
    expect(devPorts(plan)).toEqual([
      { port: 8080, what: 'worker-1 API' },
      { port: 8180, what: 'worker-1 gossip' },
      { port: 8081, what: 'worker-2 API' },
      { port: 8181, what: 'worker-2 gossip' },
      { port: 8280, what: 'edge-1 HTTP' },
    ])
    expect(basePorts(8080, 2, 1).sort()).toEqual(
      devPorts(plan)
        .map((p) => p.port)
        .sort(),
    )
  })
})

describe('portsTakenMessage', () => {
  it.each([
    [
      'one port, with a suggestion',
      [{ port: 8080, what: 'worker-1 API' }],
      { basePort: 8080, workers: 3, edges: 1, suggestion: 9080 },
      'port 8080 (worker-1 API) on 127.0.0.1 is already in use by another program. --base-port 8080 uses ' +
        '8080-8082 (API), 8180-8182 (gossip) and 8280 (edge): choose another base with --base-port ' +
        '(e.g. --base-port 9080, free now), or leave out --base-port to use free ports.',
    ],
    [
      'two ports, no edges, no suggestion',
      [
        { port: 8180, what: 'worker-1 gossip' },
        { port: 8081, what: 'worker-2 API' },
      ],
      { basePort: 8080, workers: 2, edges: 0 },
      'ports 8180 (worker-1 gossip), 8081 (worker-2 API) on 127.0.0.1 are already in use by another program. ' +
        '--base-port 8080 uses 8080-8081 (API), 8180-8181 (gossip): choose another base with --base-port, ' +
        'or leave out --base-port to use free ports.',
    ],
    [
      'free ports taken in between',
      [{ port: 41000, what: 'edge-1 HTTP' }],
      { workers: 1, edges: 1 },
      'port 41000 (edge-1 HTTP) on 127.0.0.1 is already in use by another program. They were free a moment ' +
        'ago; run patina dev again to pick other free ports.',
    ],
  ])('%s', (_name, taken, opts, want) => {
    expect(portsTakenMessage(taken, opts)).toBe(want)
  })
})

describe('cliName', () => {
  it.each([
    [{ PATINA_CLI: 'bin/patina' }, 'bin/patina'],
    [{ PATINA_CLI: 'bin/patina', npm_lifecycle_event: 'patina' }, 'bin/patina'],
    [{ npm_lifecycle_event: 'patina' }, 'pnpm patina'],
    [{ npm_lifecycle_event: 'test' }, 'patina'],
    [{ PATINA_CLI: '' }, 'patina'],
    [{}, 'patina'],
  ])('%j → %s', (env, want) => {
    expect(cliName(env)).toBe(want)
  })
})

describe('takenPorts', () => {
  let server: Server | undefined
  afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())))

  it('finds the port another program listens on, and only that one', async () => {
    server = createServer()
    const port = await new Promise<number>((r) =>
      server!.listen(0, '127.0.0.1', () => r((server!.address() as { port: number }).port)),
    )
    expect(await portFree(port)).toBe(false)
    const taken = await takenPorts([
      { port, what: 'worker-1 API' },
      { port: 0, what: 'any free port' },
    ])
    expect(taken).toEqual([{ port, what: 'worker-1 API' }])
  })
})
