// Missed-message recovery (channel.WithHistory) through the official phoenix
// client, unmodified, and the recovery.js helper: a subscriber whose
// connection drops for 5 s while 100 messages are broadcast gets all of them
// on its own rejoin, in order and once, then the live ones.

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, waitFor } from './server.mjs'
import { Clients, Tracked, outcome, unique, fmt } from './clients.mjs'
import { recoverable } from '../channel/recovery.js'

const T = { timeout: 60000 }

// Subscriber is a recoverable channel that records the n of every "msg"
// with its ref, and every onRecover call.
class Subscriber {
  constructor (rec, topic) {
    this.rec = rec
    this.got = [] // [n, ref]
    this.recoveries = []
    this.joins = []
    this.channel = recoverable(rec.socket, topic, { who: 'subscriber' }, {
      onRecover: (recovered, position) => this.recoveries.push({ recovered, position })
    })
    this.channel.on('msg', (payload, ref) => this.got.push([payload.n, ref]))
    const join = this.channel.join()
    join.receive('ok', r => this.joins.push(r))
    this.firstJoin = outcome(join)
  }

  ns () { return this.got.map(([n]) => n) }

  describe () { return `subscriber got ${fmt(this.got)} recoveries ${fmt(this.recoveries)}\n${this.rec.describe()}` }
}

function range (from, to) {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i)
}

describe('missed-message recovery with the phoenix client', () => {
  let server
  before(async () => { server = await startServer() })
  after(async () => {
    if (server) {
      const res = await server.stop()
      assert.equal(res.code, 0, `server exit on SIGTERM: ${fmt(res)}\n${server.output()}`)
    }
  })

  async function withClients (body) {
    const c = new Clients(server)
    try {
      await body(c)
    } catch (err) {
      err.message += `\n--- client history ---\n${c.describe()}`
      throw err
    } finally {
      await c.closeAll()
    }
  }

  async function publish (pub, from, to) {
    for (const n of range(from, to)) {
      const res = await pub.push('broadcast', { event: 'msg', payload: { n } })
      assert.equal(res.status, 'ok', `broadcast ${n}: ${fmt(res)}`)
    }
  }

  it('a subscriber away 5 s gets the 100 messages it missed, in order, once, then live ones', T, () => withClients(async c => {
    const topic = `recover:${unique('away')}`
    // The client reconnects by itself, 5 s after its connection dropped.
    const rec = c.socket('websocket', { reconnectAfterMs: () => 5000 }, { name: 'subscriber' })
    const sub = new Subscriber(rec, topic)
    assert.equal((await sub.firstJoin).status, 'ok', sub.describe())
    const pub = new Tracked(c.socket('websocket', {}, { name: 'publisher' }), topic)
    await pub.joinOk()

    await publish(pub, 1, 3)
    await waitFor(() => sub.got.length === 3, 5000, 'the first 3 live messages', () => sub.describe())

    const droppedAt = Date.now()
    rec.socket.conn.terminate() // the network goes away: no close handshake
    await waitFor(() => rec.closes.length === 1, 5000, 'the subscriber to notice the drop', () => sub.describe())
    await publish(pub, 4, 103)
    assert.equal(rec.socket.isConnected(), false, 'the 100 messages must be sent while the subscriber is away')

    await waitFor(() => sub.joins.length === 2, 20000, 'the subscriber to reconnect and rejoin', () => sub.describe())
    assert.ok(Date.now() - droppedAt >= 5000, 'away for 5 s')
    assert.deepEqual(sub.recoveries.map(r => r.recovered), [true], sub.describe())
    assert.equal(sub.recoveries[0].position.offset, 3, 'the rejoin started from offset 3')
    await waitFor(() => sub.got.length >= 103, 10000, 'the 100 missed messages', () => sub.describe())
    await publish(pub, 104, 110)
    await waitFor(() => sub.got.length >= 110, 10000, 'the live messages after the rejoin', () => sub.describe())
    // One more round trip on the subscriber's socket: anything doubled
    // would have arrived before its reply.
    assert.equal((await pub.push('echo', {})).status, 'ok')
    assert.deepEqual(sub.ns(), range(1, 110), `in order, no gap, no duplicate: ${sub.describe()}`)
    assert.deepEqual(sub.got.map(([, ref]) => ref), range(1, 110).map(n => `@${n}`), 'each message carries its offset')
  }))

  it('history too short: recovered false, nothing replayed, live ones still arrive', T, () => withClients(async c => {
    const topic = `recover_short:${unique('short')}`
    const rec = c.socket('websocket', { reconnectAfterMs: () => 200 }, { name: 'subscriber' })
    const sub = new Subscriber(rec, topic)
    assert.equal((await sub.firstJoin).status, 'ok', sub.describe())
    const pub = new Tracked(c.socket('websocket', {}, { name: 'publisher' }), topic)
    await pub.joinOk()
    await publish(pub, 1, 2)
    await waitFor(() => sub.got.length === 2, 5000, 'the first live messages', () => sub.describe())

    rec.socket.disconnect()
    await publish(pub, 3, 102) // 100 missed; the route keeps 10
    rec.socket.connect()
    await waitFor(() => sub.joins.length === 2, 20000, 'the rejoin', () => sub.describe())
    assert.deepEqual(sub.recoveries.map(r => r.recovered), [false], sub.describe())
    assert.equal(sub.recoveries[0].position.offset, 102, 'a client not recovered stands at the newest offset')
    await publish(pub, 103, 103)
    await waitFor(() => sub.got.length >= 3, 10000, 'the live message', () => sub.describe())
    assert.equal((await pub.push('echo', {})).status, 'ok')
    assert.deepEqual(sub.ns(), [1, 2, 103], 'nothing replayed when not recovered')
  }))

  it('a changed epoch or another topic\'s position: recovered false and none of the other topic\'s data', T, () => withClients(async c => {
    const mine = `recover:${unique('mine')}`
    const other = `recover:${unique('other')}`
    const rec = c.socket('websocket', {}, { name: 'client' })
    const pubOther = new Tracked(rec, other)
    const otherPos = (await pubOther.joinOk())._recovery
    await publish(pubOther, 1, 20)
    const pubMine = new Tracked(rec, mine)
    const minePos = (await pubMine.joinOk())._recovery
    assert.notEqual(minePos.epoch, otherPos.epoch, 'each topic has its own epoch')
    await publish(pubMine, 1, 3)

    let newest = 3
    for (const epoch of [otherPos.epoch, 'restarted-server-epoch']) {
      const r2 = c.socket('websocket', {}, { name: `forged ${epoch}` })
      const ch = r2.socket.channel(mine, { _recover: { epoch, offset: 2 } })
      const got = []
      ch.on('msg', p => got.push(p.n))
      const res = await outcome(ch.join())
      assert.equal(res.status, 'ok', fmt(res))
      assert.deepEqual(res.response._recovery, { epoch: minePos.epoch, offset: newest, recovered: false })
      newest++
      await publish(pubMine, newest, newest)
      await waitFor(() => got.length >= 1, 5000, 'the live message', () => r2.describe())
      assert.equal((await pubMine.push('echo', {})).status, 'ok')
      assert.deepEqual(got, [newest], 'only the live message, nothing of the other topic')
    }
  }))

  it('a future or malformed position is refused with a clear error and no data', T, () => withClients(async c => {
    const topic = `recover:${unique('future')}`
    const rec = c.socket('websocket', {}, { name: 'client' })
    const pub = new Tracked(rec, topic)
    const pos = (await pub.joinOk())._recovery
    await publish(pub, 1, 3)
    for (const bad of [{ epoch: pos.epoch, offset: 4 }, { epoch: pos.epoch, offset: -1 }, { offset: 1 }, 'x']) {
      const r2 = c.socket('websocket', {}, { name: `bad ${fmt(bad)}` })
      const ch = r2.socket.channel(topic, { _recover: bad })
      const got = []
      ch.on('msg', p => got.push(p.n))
      const res = await outcome(ch.join())
      assert.deepEqual(res, { status: 'error', response: { reason: 'invalid recovery position' } }, fmt(bad))
      assert.deepEqual(got, [], 'no data for a refused position')
      ch.leave()
    }
  }))

  it('over long-poll: the missed messages arrive on the rejoin, in order, once', T, () => withClients(async c => {
    const topic = `recover:${unique('lp')}`
    const rec = c.socket('longpoll', {}, { name: 'subscriber' })
    const sub = new Subscriber(rec, topic)
    assert.equal((await sub.firstJoin).status, 'ok', sub.describe())
    const pub = new Tracked(c.socket('websocket', {}, { name: 'publisher' }), topic)
    await pub.joinOk()
    await publish(pub, 1, 2)
    await waitFor(() => sub.got.length === 2, 10000, 'the first live messages', () => sub.describe())
    rec.socket.disconnect()
    await publish(pub, 3, 102)
    rec.socket.connect()
    await waitFor(() => sub.joins.length === 2, 20000, 'the rejoin', () => sub.describe())
    await waitFor(() => sub.got.length >= 102, 20000, 'the 100 missed messages', () => sub.describe())
    await publish(pub, 103, 104)
    await waitFor(() => sub.got.length >= 104, 20000, 'the live ones', () => sub.describe())
    assert.deepEqual(sub.recoveries.map(r => r.recovered), [true], sub.describe())
    assert.deepEqual(sub.ns(), range(1, 104), `in order, no gap, no duplicate: ${sub.describe()}`)
  }))

  it('a server restart changes the epoch: the helper reports recovered false', T, async () => {
    const own = await startServer()
    const c = new Clients(own)
    let second
    try {
      const topic = `recover:${unique('restart')}`
      const rec = c.socket('websocket', { reconnectAfterMs: () => 100 }, { name: 'subscriber' })
      const sub = new Subscriber(rec, topic)
      assert.equal((await sub.firstJoin).status, 'ok', sub.describe())
      const pubRec = c.socket('websocket', { reconnectAfterMs: () => 100 }, { name: 'publisher' })
      const pub = new Tracked(pubRec, topic)
      await pub.joinOk()
      await publish(pub, 1, 3)
      await waitFor(() => sub.got.length === 3, 5000, 'the live messages', () => sub.describe())
      assert.equal((await own.stop('SIGTERM')).code, 0)
      second = await startServer({ port: own.port })
      await waitFor(() => sub.joins.length === 2, 30000, 'the rejoin after the restart', () => sub.describe())
      assert.deepEqual(sub.recoveries.map(r => r.recovered), [false], sub.describe())
      assert.notEqual(sub.joins[1]._recovery.epoch, sub.joins[0]._recovery.epoch, 'a new epoch')
      await waitFor(() => pub.joinOks.length >= 2, 30000, 'the publisher to rejoin', () => pubRec.describe())
      await publish(pub, 4, 4)
      await waitFor(() => sub.got.length >= 4, 10000, 'a live message in the new epoch', () => sub.describe())
      assert.deepEqual(sub.ns(), [1, 2, 3, 4])
      assert.equal(sub.got[3][1], '@1', 'offsets restart in the new epoch')
    } catch (err) {
      err.message += `\n--- client history ---\n${c.describe()}`
      throw err
    } finally {
      await c.closeAll()
      if (!own.exited()) await own.stop('SIGKILL').catch(() => {})
      if (second) await second.stop()
    }
  })
})
