// Channel semantics through the official phoenix client, over WebSocket and
// long-poll (tests marked WS-only run over WebSocket alone).

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import WebSocket from 'ws'
import { startServer, waitFor } from './server.mjs'
import { Clients, Tracked, unique, fmt } from './clients.mjs'

const T = { timeout: 30000 }

// ping resolves with the heartbeat round trip, failing after timeoutMs.
function ping (rec, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no heartbeat reply within ${timeoutMs} ms\n${rec.describe()}`)), timeoutMs)
    const sent = rec.socket.ping(rtt => { clearTimeout(timer); resolve(rtt) })
    if (!sent) { clearTimeout(timer); reject(new Error('ping not sent: socket not connected')) }
  })
}

// An auth token whose standard base64 holds '+' and '/', which the server must
// decode as standard (not URL) base64.
const AUTH_TOKEN = 'tok>?~ u/\u00ff?'.replace('\u00ff', 'w')

for (const transport of ['websocket', 'longpoll']) {
  const ws = transport === 'websocket'

  describe(`channels over ${transport}`, () => {
    let server
    before(async () => { server = await startServer() })
    after(async () => {
      if (server) {
        const res = await server.stop()
        assert.equal(res.code, 0, `server exit on SIGTERM: ${fmt(res)}\n${server.output()}`)
      }
    })

    // with runs body with a fresh Clients and always closes its sockets.
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

    it('connects with params and auth token; join reply carries them', T, () => withClients(async c => {
      assert.ok(/[+/]/.test(btoa(AUTH_TOKEN)), 'test token must exercise standard base64')
      const rec = c.socket(transport, { params: { user_id: 'u-params' }, authToken: AUTH_TOKEN })
      await rec.connected()
      const topic = `test:${unique('params')}`
      const params = { a: 1, nested: { b: 'x' }, list: [1, 'two'] }
      const ch = new Tracked(rec, topic, params)
      const res = await ch.join()
      assert.deepEqual(res, {
        status: 'ok',
        response: { topic, user_id: 'u-params', auth_token: AUTH_TOKEN, params }
      })
    }))

    it('refused connect errors and never opens', T, () => withClients(async c => {
      const rec = c.socket(transport, { params: { token: 'refuse' } })
      // the client retries with backoff; two errors show it retried and stayed refused
      await waitFor(() => rec.errors.length >= 2, 10000, 'two connect errors', () => rec.describe())
      assert.equal(rec.opens, 0, 'socket must never open')
      assert.equal(rec.socket.isConnected(), false)
      if (ws) {
        const msg = String(rec.errors[0] && (rec.errors[0].message || rec.errors[0].error))
        assert.match(msg, /403/, `ws error should report HTTP 403, got ${msg}`)
        // and the plain HTTP status of the upgrade is 403
        const status = await new Promise((resolve, reject) => {
          const sock = new WebSocket(`${server.wsBase}/socket/websocket?token=refuse&vsn=2.0.0`)
          sock.on('unexpected-response', (req, res) => { resolve(res.statusCode); req.destroy() })
          sock.on('open', () => { sock.terminate(); reject(new Error('refused connect upgraded')) })
          sock.on('error', () => {})
        })
        assert.equal(status, 403)
      } else {
        assert.equal(rec.errors[0], 403, `long-poll error should be the body status 403, got ${fmt(rec.errors[0])}`)
        const res = await fetch(`${server.base}/socket/longpoll?token=refuse&vsn=2.0.0`)
        assert.equal(res.status, 200, 'long-poll HTTP status is always 200')
        const body = await res.json()
        assert.equal(body.status, 403, `long-poll body: ${fmt(body)}`)
      }
    }))

    it('join ok, refused join, crashing join', T, () => withClients(async c => {
      const rec = c.socket(transport, { params: { user_id: 'u-join' } })
      await rec.connected()
      const okTopic = `test:${unique('ok')}`
      const ok = await new Tracked(rec, okTopic, { hello: 'world' }).join()
      assert.equal(ok.status, 'ok')
      assert.equal(ok.response.topic, okTopic)
      assert.equal(ok.response.user_id, 'u-join')
      assert.deepEqual(ok.response.params, { hello: 'world' })

      const refused = new Tracked(rec, `test:${unique('refuse')}`, { refuse: true })
      assert.deepEqual(await refused.join(), { status: 'error', response: { reason: 'refused' } })
      refused.channel.leave()

      const crashed = new Tracked(rec, `test:${unique('crash')}`, { crash: true })
      assert.deepEqual(await crashed.join(), { status: 'error', response: { reason: 'join crashed' } })
      crashed.channel.leave()

      // the socket survived both
      const again = await new Tracked(rec, `test:${unique('after')}`).join()
      assert.equal(again.status, 'ok')
    }))

    it('join on an unmatched topic is refused with "unmatched topic"', T, () => withClients(async c => {
      const rec = c.socket(transport)
      await rec.connected()
      const ch = new Tracked(rec, 'nope:1')
      assert.deepEqual(await ch.join(), { status: 'error', response: { reason: 'unmatched topic' } })
      ch.channel.leave()
    }))

    it('push replies: echo, error, async_reply, noreply', T, () => withClients(async c => {
      const rec = c.socket(transport, { params: { user_id: 'u-push' } })
      const ch = new Tracked(rec, `test:${unique('push')}`)
      await ch.joinOk()
      const payload = { a: 1, s: 'x\u00e9\u{1F600}', arr: [1, null, true], o: { k: 'v' } }
      assert.deepEqual(await ch.push('echo', payload), { status: 'ok', response: payload })
      assert.deepEqual(await ch.push('error', {}), { status: 'error', response: { reason: 'requested' } })
      assert.deepEqual(await ch.push('async_reply', { value: 'later' }), { status: 'ok', response: { value: 'later' } })

      let noreplyAnswered = null
      ch.channel.push('noreply', {}, 5000)
        .receive('ok', r => { noreplyAnswered = { status: 'ok', r } })
        .receive('error', r => { noreplyAnswered = { status: 'error', r } })
      // frames on one channel are handled in order: the echo's reply comes after any noreply reply
      assert.deepEqual(await ch.push('echo', { marker: 1 }), { status: 'ok', response: { marker: 1 } })
      assert.equal(noreplyAnswered, null, `noreply got a reply: ${fmt(noreplyAnswered)}`)
    }))

    it('broadcast reaches every subscriber including the sender', T, () => withClients(async c => {
      const topic = `test:${unique('bcast')}`
      const a = new Tracked(c.socket(transport, { params: { user_id: 'ua' } }), topic, {}, { events: ['shout'] })
      const b = new Tracked(c.socket(transport, { params: { user_id: 'ub' } }), topic, {}, { events: ['shout'] })
      await a.joinOk()
      await b.joinOk()
      const n = unique('n')
      assert.deepEqual(await a.push('broadcast', { event: 'shout', payload: { n } }), { status: 'ok', response: {} })
      await waitFor(() => a.got('shout').length && b.got('shout').length, 5000, 'shout at both clients')
      assert.deepEqual(a.got('shout'), [{ n }])
      assert.deepEqual(b.got('shout'), [{ n }])
      // broadcasts are fastlaned with a null join_ref
      const frame = a.rec.messages.find(m => m.event === 'shout')
      assert.equal(frame.join_ref, null, 'broadcast join_ref')
      assert.equal(frame.ref, null, 'broadcast ref')
    }))

    it('broadcast_from skips the sender; push reaches only the pusher', T, () => withClients(async c => {
      const topic = `test:${unique('from')}`
      const evs = ['from_evt', 'private', 'marker']
      const a = new Tracked(c.socket(transport, { params: { user_id: 'ua' } }), topic, {}, { events: evs })
      const b = new Tracked(c.socket(transport, { params: { user_id: 'ub' } }), topic, {}, { events: evs })
      await a.joinOk()
      await b.joinOk()

      assert.deepEqual(await a.push('broadcast_from', { event: 'from_evt', payload: { k: 1 } }), { status: 'ok', response: {} })
      assert.deepEqual(await a.push('push', { event: 'private', payload: { p: 2 } }), { status: 'ok', response: {} })
      await waitFor(() => b.got('from_evt').length && a.got('private').length, 5000, 'from_evt at B and private at A')
      // a later broadcast seen by both orders the negative checks
      assert.deepEqual(await a.push('broadcast', { event: 'marker', payload: {} }), { status: 'ok', response: {} })
      await waitFor(() => a.got('marker').length && b.got('marker').length, 5000, 'marker at both')
      assert.deepEqual(b.got('from_evt'), [{ k: 1 }])
      assert.deepEqual(a.got('from_evt'), [], 'sender must not receive its broadcast_from')
      assert.deepEqual(a.got('private'), [{ p: 2 }])
      assert.deepEqual(b.got('private'), [], 'push must reach only the pushing client')
      const privateFrame = a.rec.messages.find(m => m.event === 'private')
      assert.equal(privateFrame.join_ref, a.channel.joinRef(), 'server push carries the join_ref')
      assert.equal(privateFrame.ref, null, 'server push ref')
    }))

    it('intercepted event is rewritten per subscriber and can be dropped', T, () => withClients(async c => {
      const topic = `test:${unique('filter')}`
      const evs = ['filtered', 'plain']
      const a = new Tracked(c.socket(transport, { params: { user_id: 'ua' } }), topic, {}, { events: evs })
      const b = new Tracked(c.socket(transport, { params: { user_id: 'ub' } }), topic, {}, { events: evs })
      await a.joinOk()
      await b.joinOk()

      assert.deepEqual(await a.push('broadcast', { event: 'filtered', payload: { body: 'hi' } }), { status: 'ok', response: {} })
      await waitFor(() => a.got('filtered').length && b.got('filtered').length, 5000, 'filtered at both')
      for (const [who, t] of [['ua', a], ['ub', b]]) {
        const [p] = t.got('filtered')
        assert.equal(p.body, 'HI', `${who} body`)
        assert.equal(p.intercepted_by, who, `${who} intercepted_by`)
      }

      await a.push('broadcast', { event: 'filtered', payload: { body: 'drop' } })
      await a.push('broadcast', { event: 'filtered', payload: { body: 'after' } })
      await a.push('broadcast', { event: 'plain', payload: { x: 1 } })
      await waitFor(() => [a, b].every(t => t.got('plain').length && t.got('filtered').length >= 2), 5000, 'plain and filtered "after" at both')
      for (const [who, t] of [['ua', a], ['ub', b]]) {
        assert.deepEqual(t.got('filtered').map(p => p.body), ['HI', 'AFTER'], `${who} filtered bodies`)
        assert.deepEqual(t.got('plain'), [{ x: 1 }])
      }
    }))

    it('leave gets ok, then phx_close with the join_ref', T, () => withClients(async c => {
      const rec = c.socket(transport)
      const ch = new Tracked(rec, `test:${unique('leave')}`)
      await ch.joinOk()
      const joinRef = ch.channel.joinRef()
      const leave = await new Promise(resolve => {
        ch.channel.leave().receive('ok', r => resolve({ status: 'ok', r })).receive('timeout', () => resolve({ status: 'timeout' }))
      })
      assert.equal(leave.status, 'ok')
      await waitFor(() => ch.closes >= 1, 5000, 'channel onClose')
      const close = await waitFor(() => rec.messages.find(m => m.topic === ch.topic && m.event === 'phx_close'), 5000, 'phx_close frame from the server')
      assert.equal(close.join_ref, joinRef)
      const replyIdx = rec.messages.findIndex(m => m.topic === ch.topic && m.event === 'phx_reply' && m.ref !== joinRef)
      assert.ok(replyIdx >= 0 && replyIdx < rec.messages.indexOf(close), 'leave reply precedes phx_close')
    }))

    it('stop replies ok then closes the channel for good', T, () => withClients(async c => {
      const rec = c.socket(transport)
      const ch = new Tracked(rec, `test:${unique('stop')}`)
      await ch.joinOk()
      const joinRef = ch.channel.joinRef()
      assert.deepEqual(await ch.push('stop', {}), { status: 'ok', response: {} })
      await waitFor(() => ch.closes >= 1, 5000, 'channel onClose after stop')
      const close = rec.messages.find(m => m.topic === ch.topic && m.event === 'phx_close')
      assert.equal(close.join_ref, joinRef)
      assert.equal(ch.channel.state, 'closed')
      assert.equal(ch.errors.length, 0, 'a normal stop is not an error')
    }))

    it('crash sends phx_error and the client rejoins by itself', T, () => withClients(async c => {
      const rec = c.socket(transport)
      const ch = new Tracked(rec, `test:${unique('crash')}`)
      await ch.joinOk()
      const joinRef = ch.channel.joinRef()
      ch.channel.push('crash', {})
      const err = await waitFor(() => rec.messages.find(m => m.topic === ch.topic && m.event === 'phx_error'), 5000, 'phx_error')
      assert.equal(err.join_ref, joinRef)
      assert.deepEqual(err.payload, { reason: 'channel_crash' })
      await waitFor(() => ch.joinOks.length >= 2, 8000, 'the automatic rejoin')
      assert.notEqual(ch.channel.joinRef(), joinRef)
      assert.deepEqual(await ch.push('echo', { after: 'crash' }), { status: 'ok', response: { after: 'crash' } })
    }))

    it('info pushes arrive in order', T, () => withClients(async c => {
      const ch = new Tracked(c.socket(transport), `test:${unique('info')}`, {}, { events: ['info'] })
      await ch.joinOk()
      ch.channel.push('info', { n: 3 })
      await waitFor(() => ch.got('info').length >= 3, 5000, 'three info pushes')
      assert.deepEqual(ch.got('info'), [{ i: 0 }, { i: 1 }, { i: 2 }])
    }))

    it('lobby: username required; message broadcasts body, from, at', T, () => withClients(async c => {
      const room = `lobby:${unique('room')}`
      const anon = new Tracked(c.socket(transport), room)
      assert.deepEqual(await anon.join(), { status: 'error', response: { reason: 'username required' } })
      anon.channel.leave()
      const a = new Tracked(c.socket(transport, { params: { username: 'alice' } }), room, {}, { events: ['message'] })
      const b = new Tracked(c.socket(transport, { params: { username: 'bob' } }), room, {}, { events: ['message'] })
      await a.joinOk()
      await b.joinOk()
      const body = unique('body')
      a.channel.push('message', { body })
      await waitFor(() => a.got('message').length && b.got('message').length, 5000, 'message at both')
      for (const t of [a, b]) {
        const [m] = t.got('message')
        assert.equal(m.body, body)
        assert.equal(m.from, 'alice')
        assert.ok(m.at !== undefined && m.at !== null, `at: ${fmt(m.at)}`)
      }
    }))

    if (ws) {
      it('heartbeat: socket.ping gets a reply (WS)', T, () => withClients(async c => {
        const rec = c.socket(transport)
        await rec.connected()
        const rtt = await ping(rec)
        assert.ok(rtt >= 0 && rtt < 5000, `rtt ${rtt}`)
      }))

      it('slow push does not delay socket.ping (WS)', T, () => withClients(async c => {
        const rec = c.socket(transport)
        const ch = new Tracked(rec, `test:${unique('slow')}`)
        await ch.joinOk()
        const started = Date.now()
        let slowDoneAt = null
        const slow = ch.push('slow', { ms: 1500 }).then(r => { slowDoneAt = Date.now(); return r })
        const rtt = await ping(rec)
        assert.equal(slowDoneAt, null, 'ping must be answered before the slow reply')
        assert.ok(rtt < 1000, `ping took ${rtt} ms while slow was running`)
        assert.deepEqual(await slow, { status: 'ok', response: {} })
        assert.ok(slowDoneAt - started >= 1400, `slow replied after ${slowDoneAt - started} ms`)
      }))

      it('binary push round trip (WS)', T, () => withClients(async c => {
        const ch = new Tracked(c.socket(transport), `test:${unique('bin')}`)
        await ch.joinOk()
        const bytes = new Uint8Array(1000)
        for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + 3) % 256
        bytes[0] = 0
        bytes[1] = 255
        const res = await ch.push('binary_echo', bytes.buffer.slice(0))
        assert.equal(res.status, 'ok', fmt(res))
        assert.ok(res.response instanceof ArrayBuffer, `response should be an ArrayBuffer, got ${fmt(res.response)}`)
        assert.deepEqual(new Uint8Array(res.response), bytes)
      }))
    }
  })
}
