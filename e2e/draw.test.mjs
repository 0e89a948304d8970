// The whiteboard (seed 000's collaborative drawing) through the official
// phoenix client: strokes and cursors of every participant reach the
// others live, a late joiner gets the drawing so far, presence lists who
// is drawing; absurd coordinates, bad strokes and floods get an error
// reply and draw nothing.

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Presence } from 'phoenix'
import { startServer, waitFor } from './server.mjs'
import { Clients, Tracked, unique, fmt } from './clients.mjs'

describe('whiteboard', () => {
  let server
  before(async () => { server = await startServer() })
  after(async () => { if (server) await server.stop() })

  it('strokes, cursors, late joiners, presence, bad input', { timeout: 60000 }, async () => {
    const c = new Clients(server)
    const topic = `draw:${unique('board')}`
    const join = async name => {
      const rec = c.socket('websocket', { params: { username: name } }, { name })
      const ch = new Tracked(rec, topic, {}, { events: ['stroke', 'cursor'] })
      const presence = new Presence(ch.channel)
      const reply = await ch.joinOk()
      return { ch, presence, reply, names: () => presence.list(n => n).sort() }
    }
    try {
      const ann = await join('ann')
      const bob = await join('bob')
      assert.deepEqual(ann.reply, { strokes: [] })
      for (const p of [ann, bob]) await waitFor(() => fmt(p.names()) === '["ann","bob"]', 5000, 'both listed as drawing')
      const line = { points: [[0.1, 0.1], [0.5, 0.5], [0.9, 0.2]], color: '#D6336C' }
      assert.deepEqual(await ann.ch.push('stroke', line), { status: 'ok', response: {} })
      const want = { from: 'ann', points: line.points, color: '#d6336c' }
      for (const p of [ann, bob]) await waitFor(() => p.ch.got('stroke').length === 1, 5000, 'the stroke reaches everyone')
      assert.deepEqual(bob.ch.got('stroke')[0], want)
      // A cursor reaches the others, not the mover.
      assert.deepEqual(await bob.ch.push('cursor', { x: 0.25, y: 0.75 }), { status: 'ok', response: {} })
      await waitFor(() => ann.ch.got('cursor').length === 1, 5000, 'bob\'s cursor reaches ann')
      assert.deepEqual(ann.ch.got('cursor')[0], { from: 'bob', x: 0.25, y: 0.75 })
      // Bad input: a clear reason, nothing drawn.
      for (const [ev, payload, re] of [
        ['stroke', { points: [[0.1, 0.1], [5000, -3]], color: '#000000' }, /0 to 1/],
        ['stroke', { points: [[0.1, 0.1]], color: '#000000' }, /2 to 500/],
        ['stroke', { points: Array.from({ length: 501 }, () => [0.5, 0.5]), color: '#000000' }, /2 to 500/],
        ['stroke', { points: [[0.1, 0.1], [0.2, 0.2]], color: 'red;evil' }, /#rrggbb/],
        ['stroke', { points: 'lots' }, /a stroke is/],
        ['cursor', { x: 2, y: 0 }, /0 to 1/]
      ]) {
        const r = await ann.ch.push(ev, payload)
        assert.equal(r.status, 'error', `${ev} ${fmt(payload).slice(0, 80)}`)
        assert.match(r.response.reason, re)
      }
      // A flood: refused past the limit, and only what was allowed is drawn.
      const replies = await Promise.all(Array.from({ length: 40 }, () => bob.ch.push('stroke', { points: [[0, 0], [1, 1]], color: '#000000' })))
      const ok = replies.filter(r => r.status === 'ok').length
      assert.ok(ok >= 1 && ok <= 30, `${ok} of 40 strokes in a burst accepted`)
      assert.ok(replies.some(r => r.status === 'error' && /slow down/.test(r.response.reason)), 'the flood is told to slow down')
      // A late joiner gets the drawing so far: every accepted stroke, once.
      const cy = await join('cy')
      assert.equal(cy.reply.strokes.length, 1 + ok)
      assert.deepEqual(cy.reply.strokes[0], want)
      for (const p of [ann, bob, cy]) await waitFor(() => fmt(p.names()) === '["ann","bob","cy"]', 5000, 'cy listed')
      // Leaving: gone from the list.
      cy.ch.channel.leave()
      for (const p of [ann, bob]) await waitFor(() => fmt(p.names()) === '["ann","bob"]', 5000, 'cy gone')
    } catch (err) {
      err.message += `\n${c.describe()}\n${server.output()}`
      throw err
    } finally {
      await c.closeAll()
    }
  })
})
