// Wire-level checks over a plain `ws` WebSocket, sending V2 frames by hand
// (WebSocket only).

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, waitFor } from './server.mjs'
import { Clients, unique } from './clients.mjs'

const T = { timeout: 30000 }
const OK_EMPTY = { status: 'ok', response: {} }

describe('raw V2 frames over WebSocket', () => {
  let server
  before(async () => { server = await startServer() })
  after(async () => { if (server) await server.stop() })

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

  it('heartbeat reply, with no channel joined', T, () => withClients(async c => {
    const raw = await c.raw()
    raw.send([null, '99', 'phoenix', 'heartbeat', {}])
    const reply = await raw.reply('99')
    assert.deepEqual(reply, [null, '99', 'phoenix', 'phx_reply', OK_EMPTY])
  }))

  it('join and push echo the exact ref strings', T, () => withClients(async c => {
    const raw = await c.raw({ user_id: 'raw' })
    const topic = `test:${unique('refs')}`
    raw.send(['7', '7', topic, 'phx_join', { x: 1 }])
    const join = await raw.reply('7')
    assert.equal(join[0], '7')
    assert.equal(join[2], topic)
    assert.equal(join[4].status, 'ok')
    raw.send(['7', '8', topic, 'echo', { y: 2 }])
    assert.deepEqual(await raw.reply('8'), ['7', '8', topic, 'phx_reply', { status: 'ok', response: { y: 2 } }])
  }))

  it('duplicate join replaces the old channel and closes it with the old join_ref', T, () => withClients(async c => {
    const raw = await c.raw({ user_id: 'dup' })
    const topic = `test:${unique('dup')}`
    raw.send(['1', '1', topic, 'phx_join', {}])
    assert.equal((await raw.reply('1'))[4].status, 'ok')
    raw.send(['2', '2', topic, 'phx_join', {}])
    const second = await raw.reply('2')
    assert.equal(second[0], '2')
    assert.equal(second[4].status, 'ok', `second join: ${JSON.stringify(second)}`)
    const close = await raw.frame(f => Array.isArray(f) && f[2] === topic && f[3] === 'phx_close', 5000, 'phx_close for the old join')
    assert.deepEqual(close, ['1', '1', topic, 'phx_close', {}])
    assert.ok(raw.frames.indexOf(second) < raw.frames.indexOf(close), 'the new join reply comes before the old phx_close')
    raw.send(['2', '3', topic, 'echo', { n: 3 }])
    assert.deepEqual(await raw.reply('3'), ['2', '3', topic, 'phx_reply', { status: 'ok', response: { n: 3 } }])
    // the old join_ref is now stale
    raw.send(['1', '4', topic, 'echo', { n: 4 }])
    raw.send(['2', '5', topic, 'echo', { n: 5 }])
    await raw.reply('5')
    assert.equal(raw.frames.find(f => Array.isArray(f) && f[1] === '4'), undefined, 'push with the replaced join_ref must get no reply')
    assert.equal(raw.frames.filter(f => Array.isArray(f) && f[3] === 'phx_close').length, 1, 'exactly one phx_close')
  }))

  it('push with a stale or unknown join_ref gets no reply at all', T, () => withClients(async c => {
    const raw = await c.raw({ user_id: 'stale' })
    const topic = `test:${unique('stale')}`
    raw.send(['10', '10', topic, 'phx_join', {}])
    assert.equal((await raw.reply('10'))[4].status, 'ok')
    raw.send(['999', '11', topic, 'echo', { n: 11 }])
    raw.send(['10', '12', topic, 'echo', { n: 12 }])
    assert.deepEqual(await raw.reply('12'), ['10', '12', topic, 'phx_reply', { status: 'ok', response: { n: 12 } }])
    assert.deepEqual(raw.frames.filter(f => Array.isArray(f) && f[1] === '11'), [], 'frame for the stale ref')
  }))

  it('unmatched topics', T, () => withClients(async c => {
    const raw = await c.raw()
    raw.send(['1', '1', 'nope:1', 'phx_join', {}])
    const join = await raw.reply('1')
    assert.deepEqual(join.slice(1), ['1', 'nope:1', 'phx_reply', { status: 'error', response: { reason: 'unmatched topic' } }])
    assert.ok(join[0] === '1' || join[0] === null, `join_ref of the unmatched join reply: ${JSON.stringify(join[0])}`)
    const topic = `test:${unique('unjoined')}`
    raw.send([null, '2', topic, 'echo', {}])
    assert.deepEqual(await raw.reply('2'), [null, '2', topic, 'phx_reply', { status: 'error', response: { reason: 'unmatched topic' } }])
    raw.send([null, '3', 'phoenix', 'something', {}])
    assert.deepEqual(await raw.reply('3'), [null, '3', 'phoenix', 'phx_reply', { status: 'error', response: { reason: 'unmatched topic' } }])
  }))

  it('leave on an unjoined topic gets the ok reply only', T, () => withClients(async c => {
    const raw = await c.raw()
    const topic = `test:${unique('noleave')}`
    raw.send(['5', '6', topic, 'phx_leave', {}])
    assert.deepEqual(await raw.reply('6'), ['5', '6', topic, 'phx_reply', OK_EMPTY])
    raw.send([null, '7', 'phoenix', 'heartbeat', {}])
    await raw.reply('7')
    assert.equal(raw.frames.filter(f => Array.isArray(f) && f[3] === 'phx_close').length, 0, 'no phx_close')
  }))

  // badInput opens a victim and a bystander, sends bad to the victim, expects
  // the given close code and checks the bystander still gets its echo.
  async function badInput (c, send, code) {
    const bystander = await c.raw({ user_id: 'bystander' })
    const topic = `test:${unique('bystander')}`
    bystander.send(['1', '1', topic, 'phx_join', {}])
    assert.equal((await bystander.reply('1'))[4].status, 'ok')
    const victim = await c.raw({ user_id: 'victim' })
    send(victim)
    const closed = await victim.waitClosed(5000)
    assert.equal(closed.code, code, `close code (reason ${JSON.stringify(closed.reason)})`)
    bystander.send(['1', '2', topic, 'echo', { alive: true }])
    assert.deepEqual(await bystander.reply('2'), ['1', '2', topic, 'phx_reply', { status: 'ok', response: { alive: true } }])
    assert.equal(bystander.closeInfo, null)
  }

  it('malformed JSON closes that connection with 1007', T, () => withClients(c =>
    badInput(c, v => v.send('{"this is": not json'), 1007)))

  it('a 4-element frame closes that connection with 1007', T, () => withClients(c =>
    badInput(c, v => v.send(['1', '1', 'test:four', 'phx_join']), 1007)))

  it('a frame over 1 MiB closes that connection with 1009', T, () => withClients(c =>
    badInput(c, v => v.send([null, '1', 'test:big', 'echo', { pad: 'x'.repeat(1024 * 1024 + 16) }]), 1009)))

  it('joins beyond 100 per connection are refused and the connection keeps working', T, () => withClients(async c => {
    const raw = await c.raw({ user_id: 'flood' })
    const base = unique('flood')
    for (let i = 1; i <= 200; i++) raw.send([String(i), String(i), `test:${base}:${i}`, 'phx_join', {}])
    await waitFor(() => raw.frames.filter(f => Array.isArray(f) && f[3] === 'phx_reply').length >= 200, 15000, '200 join replies', () => raw.describe())
    for (let i = 1; i <= 200; i++) {
      const r = raw.frames.find(f => Array.isArray(f) && f[1] === String(i) && f[3] === 'phx_reply')
      if (i <= 100) {
        assert.equal(r[4].status, 'ok', `join #${i}: ${JSON.stringify(r)}`)
      } else {
        assert.deepEqual(r.slice(1), [String(i), `test:${base}:${i}`, 'phx_reply', { status: 'error', response: { reason: 'too many channels joined' } }], `join #${i}`)
        assert.ok(r[0] === String(i) || r[0] === null, `join_ref of refused join #${i}: ${JSON.stringify(r[0])}`)
      }
    }
    raw.send(['1', '201', `test:${base}:1`, 'echo', { still: 'ok' }])
    assert.deepEqual(await raw.reply('201'), ['1', '201', `test:${base}:1`, 'phx_reply', { status: 'ok', response: { still: 'ok' } }])
    assert.equal(raw.closeInfo, null)
  }))
})
