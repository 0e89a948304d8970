// A cluster with the real phoenix client: three parley-demo processes share
// one SO_REUSEPORT address and a redis-server (the adapter under test; the Go
// test internal/clustertest also runs NATS). Clients spread over the nodes;
// lobby broadcasts reach every one; Pointing Party presence lists everybody
// on every node; after kill -9 of a node its clients reconnect to the same
// address by themselves, land on survivors and rejoin; after a Redis restart
// cross-node traffic resumes without restarting Parley.

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { Socket, Presence } from 'phoenix'
import WebSocket from 'ws'
import { ROOT, waitFor } from './server.mjs'

const REDIS = '/usr/bin/redis-server'

function freePort () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)) })
  })
}

function canConnect (port) {
  return new Promise(resolve => {
    const s = net.connect(port, '127.0.0.1')
    s.on('connect', () => { s.destroy(); resolve(true) })
    s.on('error', () => resolve(false))
  })
}

// proc starts a child process and collects its output.
function proc (bin, args, name) {
  const p = spawn(bin, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  const out = { name, p, text: '', exited: null }
  out.done = new Promise(resolve => p.on('exit', (code, signal) => { out.exited = { code, signal }; resolve() }))
  p.stderr.on('data', d => { out.text += d })
  out.lines = createInterface({ input: p.stdout })
  out.lines.on('line', l => { out.text += l + '\n' })
  return out
}

async function stop (child, signal = 'SIGTERM') {
  if (!child || child.exited) return
  child.p.kill(signal)
  const t = setTimeout(() => child.p.kill('SIGKILL'), 15000)
  await child.done
  clearTimeout(t)
}

// newCluster holds one cluster's processes and clients: redis-server and
// parley-demo nodes on one SO_REUSEPORT address, with the presence down
// period given.
function newCluster (presenceDown, extraArgs = []) {
  let dir, bin, redis, redisPort, addrPort
  const nodes = {}
  const clients = []

  async function startRedis () {
    redis = proc(REDIS, ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], 'redis')
    await waitFor(() => canConnect(redisPort), 10000, 'redis-server to accept connections', () => redis.text)
  }

  async function startNode (name) {
    const n = proc(bin, ['-addr', `127.0.0.1:${addrPort}`, '-reuseport', '-redis', `redis://127.0.0.1:${redisPort}/0`,
      '-node', name, '-data', path.join(dir, name), '-node-modules', path.join(ROOT, 'node_modules'),
      '-presence-broadcast', '200ms', '-presence-down', presenceDown, ...extraArgs], name)
    let listening = false
    n.lines.on('line', l => { if (l.startsWith('PARLEY_LISTENING ')) listening = true })
    await waitFor(() => listening || n.exited, 30000, `node ${name} to listen`, () => n.text)
    assert.ok(listening, `node ${name} exited: ${n.text}`)
    nodes[name] = n
  }

  // client connects a phoenix socket that reconnects and rejoins quickly,
  // and records its node, lobby messages and presence.
  function client (username) {
    const socket = new Socket(`ws://127.0.0.1:${addrPort}/socket`, {
      transport: WebSocket,
      params: { username },
      reconnectAfterMs: () => 100,
      rejoinAfterMs: () => 100,
      heartbeatIntervalMs: 5000
    })
    const c = { username, socket, nodes: [], messages: [], presence: null }
    socket.connect()
    const info = socket.channel('node:info', {})
    info.join().receive('ok', ({ node }) => c.nodes.push(node))
    c.lobby = socket.channel('lobby:cluster', {})
    c.lobby.on('message', ({ body }) => c.messages.push(body))
    c.lobby.join()
    c.room = socket.channel('room:cluster', {})
    c.presence = new Presence(c.room)
    c.room.join()
    c.node = () => c.nodes[c.nodes.length - 1]
    c.users = () => c.presence.list(name => name).sort()
    c.metaCounts = () => c.presence.list((name, { metas }) => metas.length)
    clients.push(c)
    return c
  }

  async function begin (names) {
    assert.ok(existsSync(REDIS), `${REDIS} is missing: run scripts/deps.sh`)
    dir = await mkdtemp(path.join(os.tmpdir(), 'parley-cluster-'))
    bin = path.join(dir, 'parley-demo')
    execFileSync('go', ['build', '-o', bin, './cmd/parley-demo'], { cwd: ROOT, stdio: 'inherit' })
    redisPort = await freePort()
    addrPort = await freePort()
    await startRedis()
    for (const name of names) await startNode(name)
  }

  async function end () {
    for (const c of clients) c.socket.disconnect()
    for (const n of Object.values(nodes)) await stop(n)
    await stop(redis, 'SIGKILL')
    if (dir) await rm(dir, { recursive: true, force: true })
  }

  const byNode = () => {
    const m = {}
    for (const n of Object.keys(nodes)) m[n] = []
    for (const c of clients) if (c.node()) m[c.node()].push(c)
    return m
  }
  const describe = () => clients.map(c => `${c.username}@${c.node()} users=${c.users()} metas=${c.metaCounts()} msgs=${c.messages.length}`).join('\n')

  return { begin, end, startRedis, startNode, client, clients, nodes, byNode, describe, stopRedis: () => stop(redis, 'SIGKILL') }
}

describe('cluster of three nodes over Redis, real phoenix clients', () => {
  const cl = newCluster('2s')
  const { clients, nodes } = cl
  before(() => cl.begin(['n0', 'n1', 'n2']))
  after(() => cl.end())

  it('spreads clients, broadcasts, presence, kill -9 with reconnection, Redis restart', { timeout: 120000 }, async (t) => {
    const { byNode, describe, client } = cl
    // Connect until every node serves at least one client.
    for (let i = 0; ; i++) {
      const c = client(`user${i}`)
      await waitFor(() => c.node(), 10000, `${c.username} to learn its node`)
      const m = byNode()
      if (m.n0.length && m.n1.length && m.n2.length) break
      assert.ok(i < 40, `40 clients did not reach every node: ${describe()}`)
    }
    const everyone = clients.map(c => c.username).sort()
    t.diagnostic(`${clients.length} clients: ${Object.entries(byNode()).map(([n, cs]) => `${n}=${cs.length}`).join(' ')}`)

    // Lobby: a message from a client of n0 reaches clients on every node.
    const probe = async (prefix) => {
      const sender = byNode().n0[0] || byNode().n1[0]
      for (let i = 0; ; i++) {
        sender.lobby.push('message', { body: `${prefix} ${i}` })
        try {
          await waitFor(() => clients.every(c => c.messages.some(m => m.startsWith(prefix))), 300, 'probe')
          return
        } catch (e) {
          assert.ok(i < 100, `"${prefix}" did not reach everyone:\n${describe()}`)
        }
      }
    }
    await probe('hello')

    // Exactly once: one message from a client of each node, in turn, each
    // sent once the one before reached everybody; a last one from another
    // node. A message published after an earlier one was heard everywhere
    // reaches every node's subscription after any echo of the earlier one,
    // so when the last is heard, duplicates of the others would be too.
    const senders = ['n0', 'n1', 'n2'].map(n => byNode()[n][0])
    senders.push(byNode().n1[0])
    const bodies = []
    for (const [i, from] of senders.entries()) {
      const body = `once ${i} from ${from.node()}`
      bodies.push(body)
      from.lobby.push('message', { body })
      await waitFor(() => clients.every(c => c.messages.includes(body)), 10000, `"${body}" to reach everyone`, describe)
    }
    for (const c of clients) {
      for (const body of bodies.slice(0, -1)) {
        assert.equal(c.messages.filter(m => m === body).length, 1, `${c.username}@${c.node()} got "${body}" exactly once`)
      }
    }

    // Presence: everyone listed on every node.
    await waitFor(() => clients.every(c => JSON.stringify(c.users()) === JSON.stringify(everyone)), 15000,
      'every client to list every user', describe)

    // A graceful leave on one node: the others drop the user (the leave's
    // tombstone replicates) while its socket stays up; it joins again.
    const leaver = byNode().n1[0]
    await new Promise((resolve, reject) => leaver.room.leave().receive('ok', resolve).receive('timeout', () => reject(new Error('leave timed out'))))
    const others = clients.filter(c => c !== leaver)
    const withoutLeaver = everyone.filter(u => u !== leaver.username)
    await waitFor(() => others.every(c => JSON.stringify(c.users()) === JSON.stringify(withoutLeaver)), 15000,
      `every other client to drop ${leaver.username} after its leave`, describe)
    assert.ok(leaver.socket.isConnected(), 'the leaver kept its socket')
    leaver.room = leaver.socket.channel('room:cluster', {})
    leaver.presence = new Presence(leaver.room)
    leaver.room.join()
    await waitFor(() => clients.every(c => JSON.stringify(c.users()) === JSON.stringify(everyone)), 15000,
      `every client to list ${leaver.username} again`, describe)

    // kill -9 of n2: its clients reconnect to the same address and land on
    // survivors; their channels rejoin by themselves; presence converges.
    const victims = byNode().n2
    nodes.n2.p.kill('SIGKILL')
    await nodes.n2.done
    const killed = Date.now()
    await waitFor(() => victims.every(c => c.node() && c.node() !== 'n2'), 20000, "n2's clients to rejoin on a survivor", describe)
    await waitFor(() => clients.every(c => JSON.stringify(c.users()) === JSON.stringify(everyone)), 20000,
      'every client to list every user again after the kill', describe)
    const rejoined = Date.now() - killed
    // The dead node's presences leave within its down period (2 s): each
    // user ends with exactly the one meta of its new connection.
    await waitFor(() => clients.every(c => c.metaCounts().every(n => n === 1)), 20000,
      "the dead node's presences to leave", () => clients.map(c => `${c.username}: ${c.metaCounts()}`).join('\n'))
    t.diagnostic(`after kill -9 of n2, its ${victims.length} client(s) rejoined on ${victims.map(c => c.node()).join(',')} in ${rejoined} ms; its stale presences left after ${Date.now() - killed} ms (down period 2 s)`)
    await probe('after kill')

    // Redis restart: traffic between n0 and n1 resumes without restarting Parley.
    await cl.stopRedis()
    await cl.startRedis()
    const restarted = Date.now()
    await probe('after redis restart')
    t.diagnostic(`cross-node traffic resumed ${Date.now() - restarted} ms after redis-server restarted`)
    assert.equal(nodes.n0.exited, null, 'n0 kept running')
    assert.equal(nodes.n1.exited, null, 'n1 kept running')
  })
})

// A node that crashes and comes back under the same name before its down
// period (60 s here) is a new incarnation: its old presences are replaced
// at once, not listed until the down period ends, so that every user has
// exactly its one live meta again within seconds.
describe('a node restarted under its own name replaces its old incarnation', () => {
  const cl = newCluster('60s', ['-log-level', 'debug'])
  const { clients, nodes } = cl
  before(() => cl.begin(['n0', 'n1']))
  after(() => cl.end())

  it('kill -9 and restart of n1: no ghost presences for the 60 s down period', { timeout: 90000 }, async (t) => {
    const { byNode, describe, client } = cl
    for (let i = 0; ; i++) {
      const c = client(`user${i}`)
      await waitFor(() => c.node(), 10000, `${c.username} to learn its node`)
      const m = byNode()
      if (m.n0.length && m.n1.length >= 2) break
      assert.ok(i < 40, `40 clients did not reach both nodes: ${describe()}`)
    }
    const everyone = clients.map(c => c.username).sort()
    const settled = () => clients.every(c => JSON.stringify(c.users()) === JSON.stringify(everyone) && c.metaCounts().every(n => n === 1))
    await waitFor(settled, 15000, 'every client to list every user once', describe)

    const victims = byNode().n1
    nodes.n1.p.kill('SIGKILL')
    await nodes.n1.done
    const killed = Date.now()
    await cl.startNode('n1')
    // The victims reconnect (to n0 or the new n1) and track again: with
    // the old incarnation's presences still listed they would show two
    // metas each until the down period ends.
    await waitFor(() => victims.every(c => c.nodes.length >= 2), 20000, "n1's clients to reconnect", describe)
    const presenceLogs = () => Object.values(nodes).map(n => `${n.name}:\n` + n.text.split('\n').filter(l => l.includes('presence')).join('\n')).join('\n')
    await waitFor(settled, 20000, 'one meta per user, well within the 60 s down period', () => describe() + '\n' + presenceLogs())
    t.diagnostic(`n1 killed and restarted; ${victims.length} client(s) back on ${victims.map(c => c.node()).join(',')}; presence exact after ${Date.now() - killed} ms`)
  })
})
