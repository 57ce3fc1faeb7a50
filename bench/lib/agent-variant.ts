/**
 * A `patina agent` with transport options the config does not expose, for A/B experiments
 * (`bench/lib/ab-sign.ts`): `node … bench/lib/agent-variant.ts <config.toml>`, with
 * `PATINA_SIGN=0` to publish gossip messages unsigned (gossipsub StrictNoSign, content ids).
 */
import { join, dirname } from 'node:path'
import { createLibp2pTransport, createLogger, loadConfig, startAgent } from '@patina/node'

const configPath = process.argv[2]
if (configPath === undefined) throw new Error('usage: agent-variant.ts <config.toml>')
const { config } = loadConfig({ configPath })
const logger = createLogger(config.log)
const transport = createLibp2pTransport({
  listen: [config.gossip.addr],
  identityPath: join(dirname(config.db.path), 'node.key'),
  maxMessageBytes: 2 * config.gossip.message_max_bytes,
  signMessages: process.env['PATINA_SIGN'] !== '0',
})
const agent = await startAgent(config, { logger, transport })
const stop = () => {
  void agent.stop().then(() => process.exit(0))
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
