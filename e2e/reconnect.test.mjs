// Server-initiated disconnects: the socket-id "disconnect" broadcast and a
// graceful server restart, over WebSocket and long-poll. The phoenix client
// must reconnect and rejoin by itself.

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, waitFor } from './server.mjs'
import { Clients, Tracked, unique, fmt } from './clients.mjs'

const T = { timeout: 60000 }

for (const transport of ['websocket', 'longpoll']) {
  const ws = transport === 'websocket'

  describe(`reconnects over ${transport}`, () => {
    let server
    before(async () => { server = await startServer() })
    after(async () => { if (server) await server.stop() })

    it('kick disconnects every socket with that id, and they reconnect', T, async () => {
      const c = new Clients(server)
      try {
        const topic = `test:${unique('kick')}`
        const a42 = new Tracked(c.socket(transport, { params: { user_id: '42' } }, { name: '42a' }), topic)
        const b42 = new Tracked(c.socket(transport, { params: { user_id: '42' } }, { name: '42b' }), topic)
        const s7 = new Tracked(c.socket(transport, { params: { user_id: '7' } }, { name: '7' }), topic)
        await Promise.all([a42.joinOk(), b42.joinOk(), s7.joinOk()])

        assert.deepEqual(await s7.push('kick', { user_id: '42' }), { status: 'ok', response: {} })
        // long-poll clients notice a gone session on their next poll, up to one poll window later
        const within = ws ? 5000 : 25000
        for (const t of [a42, b42]) {
          await waitFor(() => t.rec.closes.length >= 1, within, `socket ${t.rec.name} to be closed by the server`, () => c.describe())
          if (ws) assert.equal(t.rec.closes[0], 1001, `close code of ${t.rec.name}`)
        }
        for (const t of [a42, b42]) {
          await waitFor(() => t.rec.opens >= 2 && t.joinOks.length >= 2, 15000, `socket ${t.rec.name} to reconnect and rejoin`, () => c.describe())
          const res = await t.push('echo', { back: t.rec.name })
          assert.deepEqual(res, { status: 'ok', response: { back: t.rec.name } })
        }
        assert.deepEqual(await s7.push('echo', { still: 7 }), { status: 'ok', response: { still: 7 } })
        assert.equal(s7.rec.opens, 1, 'socket 7 must not reconnect')
        assert.deepEqual(s7.rec.closes, [], 'socket 7 must not be closed')
        assert.equal(s7.joinOks.length, 1, 'socket 7 channel must not rejoin')
      } catch (err) {
        err.message += `\n--- client history ---\n${c.describe()}`
        throw err
      } finally {
        await c.closeAll()
      }
    })

    it('server restart on the same port: client reconnects and rejoins', T, async () => {
      const own = await startServer()
      const c = new Clients(own)
      let second
      try {
        const rec = c.socket(transport, { params: { user_id: 'restart' } })
        const ch = new Tracked(rec, `test:${unique('restart')}`)
        await ch.joinOk()
        const stopped = await own.stop('SIGTERM')
        assert.deepEqual(stopped, { code: 0, signal: null }, `exit after SIGTERM; output:\n${own.output()}`)
        if (ws) {
          await waitFor(() => rec.closes.length >= 1, 5000, 'the WebSocket close', () => rec.describe())
          assert.equal(rec.closes[0], 1012, `close code on shutdown: ${fmt(rec.closes)}`)
        }
        second = await startServer({ port: own.port })
        assert.equal(second.port, own.port)
        await waitFor(() => ch.joinOks.length >= 2, 30000, 'the channel to rejoin after the restart', () => rec.describe())
        assert.ok(rec.opens >= 2, `opens ${rec.opens}`)
        assert.deepEqual(await ch.push('echo', { after: 'restart' }), { status: 'ok', response: { after: 'restart' } })
      } catch (err) {
        err.message += `\n--- client history ---\n${c.describe()}\n--- server output ---\n${own.output()}${second ? second.output() : ''}`
        throw err
      } finally {
        await c.closeAll()
        if (!own.exited()) await own.stop('SIGKILL').catch(() => {})
        if (second) await second.stop()
      }
    })
  })
}
