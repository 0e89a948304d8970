// Presence on the Pointing Party channel ("room:<name>", connect param
// "username") through the official phoenix client and its Presence, over
// WebSocket and long-poll: joins, leaves (an explicit leave and a connection
// that dies without one), one user in two tabs, meta updates with
// phx_ref_prev, the state a late joiner gets, and the onJoin/onLeave
// callbacks (spec channels-presence.md §3).

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Presence } from 'phoenix'
import { startServer, waitFor } from './server.mjs'
import { Clients, Tracked, unique, outcome, fmt } from './clients.mjs'

const T = { timeout: 60000 }
const REF = /^[A-Za-z0-9_-]{16}$/

const clone = v => v === undefined ? undefined : JSON.parse(JSON.stringify(v))
const sorted = a => [...a].sort()

// Member is one browser tab: a phoenix Socket with the given username, its
// room channel and a Presence on it, recording syncs, callbacks and the
// presence frames received.
class Member {
  constructor (c, transport, username, topic, socketOpts = {}, tab = 1) {
    this.username = username
    this.name = `${username}#${tab}@${transport}`
    this.rec = c.socket(transport, { params: { username }, ...socketOpts }, { name: this.name })
    this.ch = new Tracked(this.rec, topic, {}, { events: ['presence_state', 'presence_diff'] })
    this.presence = new Presence(this.ch.channel)
    this.syncs = 0
    this.joins = [] // onJoin calls {key, current, joined}, cloned when called
    this.leaves = [] // onLeave calls {key, current, left}
    this.presence.onSync(() => { this.syncs++ })
    this.presence.onJoin((key, current, joined) => this.joins.push({ key, current: clone(current), joined: clone(joined) }))
    this.presence.onLeave((key, current, left) => this.leaves.push({ key, current: clone(current), left: clone(left) }))
  }

  // join joins the room and waits for the first presence sync.
  async join () {
    const reply = await this.ch.joinOk()
    await waitFor(() => this.syncs > 0, 10000, `${this.name}: first presence sync`, () => this.rec.describe())
    return reply
  }

  keys () { return sorted(this.presence.list(key => key)) }
  metas (key) { const p = this.presence.state[key]; return p ? clone(p.metas) : undefined }
  states () { return this.ch.got('presence_state') }
  diffs () { return this.ch.got('presence_diff') }

  // sees waits until this member's Presence lists exactly the given keys.
  sees (keys, timeoutMs = 5000) {
    const want = sorted(keys)
    return waitFor(() => fmt(this.keys()) === fmt(want), timeoutMs,
      `${this.name} to list ${fmt(want)} (lists ${fmt(this.keys())})`, () => this.rec.describe())
  }

  // leave leaves the channel (phx_leave) and resolves with the reply.
  leave () { return outcome(this.ch.channel.leave()) }
}

for (const transport of ['websocket', 'longpoll']) {
  const ws = transport === 'websocket'

  describe(`presence over ${transport}`, () => {
    let server
    before(async () => { server = await startServer() })
    after(async () => {
      if (server) {
        const res = await server.stop()
        assert.equal(res.code, 0, `server exit on SIGTERM: ${fmt(res)}\n${server.output()}`)
      }
    })

    // withRoom runs body with fresh clients and a unique room topic, and
    // always closes every socket.
    async function withRoom (body) {
      const c = new Clients(server)
      const topic = `room:${unique('presence')}`
      const member = (username, opts, tab) => new Member(c, transport, username, topic, opts, tab)
      try {
        await body({ c, topic, member })
      } catch (err) {
        err.message += `\n--- client history ---\n${c.describe()}\n--- server output ---\n${server.output()}`
        throw err
      } finally {
        await c.closeAll()
      }
    }

    it('three users join and each lists all three after sync', T, () => withRoom(async ({ member }) => {
      const users = ['ann', 'ben', 'cat'].map(u => member(u))
      for (const u of users) {
        assert.deepEqual(await u.join(), { card: null, driver: '', closed: false }, `${u.name} join reply`)
      }
      for (const u of users) await u.sees(['ann', 'ben', 'cat'])
      for (const u of users) {
        for (const key of ['ann', 'ben', 'cat']) {
          const metas = u.metas(key)
          assert.equal(metas.length, 1, `${u.name} metas of ${key}: ${fmt(metas)}`)
          assert.deepEqual(Object.keys(metas[0]).sort(), ['points', 'phx_ref'].sort(), `${u.name} meta of ${key}: ${fmt(metas)}`)
          assert.equal(metas[0].points, null)
          assert.match(metas[0].phx_ref, REF)
        }
        // every member has the same view, refs included
        assert.deepEqual(clone(u.presence.state), clone(users[0].presence.state))
        // the first presence_state carries the member itself (tracked before the push)
        assert.ok(u.states()[0][u.username], `${u.name}'s presence_state lacks itself: ${fmt(u.states()[0])}`)
      }
      // the first member got the others as diffs, never as a second state
      assert.equal(users[0].states().length, 1)
      assert.deepEqual(Object.keys(users[0].states()[0]), ['ann'])
    }))

    it(`a leave and a ${ws ? 'terminated WebSocket' : 'dropped long-poll session'} both show as leaves`, T, (t) => withRoom(async ({ member }) => {
      const stay = ['ann', 'ben'].map(u => member(u))
      const leaver = member('cat')
      // the killed socket must not reconnect on its own
      const killed = member('dan', { reconnectAfterMs: () => 3600000, rejoinAfterMs: () => 3600000 })
      const all = [...stay, leaver, killed]
      for (const u of all) await u.join()
      for (const u of all) await u.sees(['ann', 'ben', 'cat', 'dan'])
      const catMetas = stay[0].metas('cat')
      const danMetas = stay[0].metas('dan')

      assert.deepEqual(await leaver.leave(), { status: 'ok', response: {} })
      for (const u of stay) await u.sees(['ann', 'ben', 'dan'])

      const killedAt = Date.now()
      if (ws) {
        // no close frame, no phx_leave: the TCP connection just goes away
        killed.rec.socket.conn.terminate()
      } else {
        // the client stops polling without telling the server; the server
        // ends the session once it has been idle (15 s)
        killed.rec.socket.disconnect()
      }
      // a closed WebSocket ends its channels at once; an abandoned long-poll
      // session only after the idle timeout
      for (const u of stay) await u.sees(['ann', 'ben'], ws ? 5000 : 35000)
      t.diagnostic(`${transport}: the killed user left the others' presence after ${Date.now() - killedAt} ms`)

      for (const u of stay) {
        // each leave carried the full meta that left, in a diff without joins
        for (const [key, metas] of [['cat', catMetas], ['dan', danMetas]]) {
          const diffs = u.diffs().filter(d => d.leaves[key])
          assert.equal(diffs.length, 1, `${u.name}: diffs leaving ${key}: ${fmt(diffs)}`)
          assert.deepEqual(diffs[0], { joins: {}, leaves: { [key]: { metas } } })
          const calls = u.leaves.filter(l => l.key === key)
          assert.deepEqual(calls, [{ key, current: { metas: [] }, left: { metas } }], `${u.name}: onLeave for ${key}`)
        }
        assert.deepEqual(u.leaves.map(l => l.key).sort(), ['cat', 'dan'])
      }
    }))

    it('one user in two tabs is one key with two metas', T, () => withRoom(async ({ member }) => {
      const bob = member('bob')
      await bob.join()
      const tab1 = member('alice', {}, 1)
      await tab1.join()
      await bob.sees(['alice', 'bob'])
      const ref1 = bob.metas('alice')[0].phx_ref
      const tab2 = member('alice', {}, 2)
      await tab2.join()
      for (const u of [bob, tab1, tab2]) {
        await waitFor(() => (u.metas('alice') || []).length === 2, 5000, `${u.name} to see alice's two metas`, () => u.rec.describe())
        assert.deepEqual(u.keys(), ['alice', 'bob'])
        const refs = u.metas('alice').map(m => m.phx_ref)
        assert.equal(new Set(refs).size, 2, `two distinct refs: ${fmt(refs)}`)
        assert.ok(refs.includes(ref1), `${u.name}: tab 1's ref ${ref1} kept in ${fmt(refs)}`)
        for (const m of u.metas('alice')) assert.equal(m.points, null)
      }
      // tab 2's join reached bob as a join of one meta for the existing key
      const tab2Join = bob.joins.filter(j => j.key === 'alice').at(-1)
      assert.equal(tab2Join.current.metas.length, 1)
      assert.equal(tab2Join.joined.metas.length, 1)
      assert.notEqual(tab2Join.joined.metas[0].phx_ref, ref1)

      // closing one tab removes its meta only; the key stays
      assert.deepEqual(await tab2.leave(), { status: 'ok', response: {} })
      await waitFor(() => (bob.metas('alice') || []).length === 1, 5000, 'bob to see one alice meta again', () => bob.rec.describe())
      assert.deepEqual(bob.keys(), ['alice', 'bob'])
      assert.equal(bob.metas('alice')[0].phx_ref, ref1)
      const left = bob.leaves.filter(l => l.key === 'alice')
      assert.equal(left.length, 1)
      assert.equal(left[0].current.metas.length, 1)
    }))

    it('user_estimated replaces that tab\'s meta (phx_ref_prev) and leaves the other tab\'s alone', T, () => withRoom(async ({ member }) => {
      const bob = member('bob')
      await bob.join()
      const tab1 = member('alice', {}, 1)
      await tab1.join()
      await bob.sees(['alice', 'bob'])
      const [old1] = bob.metas('alice')
      const tab2 = member('alice', {}, 2)
      await tab2.join()
      await waitFor(() => (bob.metas('alice') || []).length === 2, 5000, 'bob to see two alice metas', () => bob.rec.describe())
      const old2 = bob.metas('alice').find(m => m.phx_ref !== old1.phx_ref)
      const diffsBefore = bob.diffs().length

      assert.deepEqual(await tab1.ch.push('user_estimated', { points: 5 }), { status: 'ok', response: {} })
      for (const u of [bob, tab1, tab2]) {
        await waitFor(() => (u.metas('alice') || []).some(m => m.points === 5), 5000, `${u.name} to see alice's vote`, () => u.rec.describe())
        const metas = u.metas('alice')
        assert.equal(metas.length, 2, `${u.name}: alice metas ${fmt(metas)}`)
        const updated = metas.find(m => m.points === 5)
        assert.deepEqual(Object.keys(updated).sort(), ['card', 'phx_ref', 'phx_ref_prev', 'points'])
        assert.equal(updated.card, 0, `${u.name}: a vote before any card is dealt carries card 0`)
        assert.equal(updated.phx_ref_prev, old1.phx_ref, `${u.name}: phx_ref_prev`)
        assert.notEqual(updated.phx_ref, old1.phx_ref)
        assert.match(updated.phx_ref, REF)
        assert.ok(!metas.some(m => m.phx_ref === old1.phx_ref), `${u.name}: the old meta is gone: ${fmt(metas)}`)
        assert.deepEqual(metas.find(m => m !== updated), old2, `${u.name}: tab 2's meta is unchanged`)
        assert.equal(u.metas('bob').length, 1)
        assert.equal(u.metas('bob')[0].points, null)
      }
      // on the wire: one diff joining the new meta and leaving the old one
      const diffs = bob.diffs().slice(diffsBefore)
      assert.equal(diffs.length, 1, `bob's diffs after the vote: ${fmt(diffs)}`)
      const updated = bob.metas('alice').find(m => m.points === 5)
      assert.deepEqual(diffs[0], { joins: { alice: { metas: [updated] } }, leaves: { alice: { metas: [old1] } } })

      // an out-of-range vote is refused and changes nothing
      assert.deepEqual(await tab2.ch.push('user_estimated', { points: 101 }), { status: 'error', response: { reason: 'points must be a number from 0 to 100' } })
      assert.deepEqual(await tab2.ch.push('user_estimated', {}), { status: 'error', response: { reason: 'points must be a number from 0 to 100' } })
      assert.deepEqual(bob.metas('alice').find(m => m.phx_ref === old2.phx_ref), old2)
    }))

    it('a late joiner gets the full state with current points', T, () => withRoom(async ({ member }) => {
      const ann = member('ann')
      const ben = member('ben')
      await ann.join()
      await ben.join()
      assert.deepEqual(await ann.ch.push('user_estimated', { points: 8 }), { status: 'ok', response: {} })
      await waitFor(() => ben.metas('ann')?.[0]?.points === 8, 5000, 'ben to see ann\'s vote', () => ben.rec.describe())
      const annMetas = ben.metas('ann')
      const benMetas = ben.metas('ben')

      const cat = member('cat')
      await cat.join()
      assert.equal(cat.states().length, 1)
      const state = cat.states()[0]
      assert.deepEqual(Object.keys(state).sort(), ['ann', 'ben', 'cat'])
      assert.deepEqual(state.ann, { metas: annMetas }, 'ann with her vote and phx_ref_prev')
      assert.equal(state.ann.metas[0].points, 8)
      assert.deepEqual(state.ben, { metas: benMetas })
      assert.equal(state.cat.metas.length, 1)
      assert.equal(state.cat.metas[0].points, null)
      // and everybody converges on the same view
      for (const u of [ann, ben]) await u.sees(['ann', 'ben', 'cat'])
      for (const u of [ann, ben]) assert.deepEqual(clone(u.presence.state), clone(cat.presence.state))
    }))

    it('onJoin and onLeave fire with the right keys', T, () => withRoom(async ({ member }) => {
      const ann = member('ann')
      await ann.join()
      const [annMeta] = ann.metas('ann')
      assert.deepEqual(ann.joins, [{ key: 'ann', current: undefined, joined: { metas: [annMeta] } }], 'onJoin for the initial state')
      assert.deepEqual(ann.leaves, [])

      const bob1 = member('bob', {}, 1)
      await bob1.join()
      await waitFor(() => ann.joins.length === 2, 5000, 'onJoin for bob', () => ann.rec.describe())
      const [b1] = ann.metas('bob')
      assert.deepEqual(ann.joins[1], { key: 'bob', current: undefined, joined: { metas: [b1] } })

      const bob2 = member('bob', {}, 2)
      await bob2.join()
      await waitFor(() => ann.joins.length === 3, 5000, 'onJoin for bob\'s second tab', () => ann.rec.describe())
      const b2 = ann.metas('bob').find(m => m.phx_ref !== b1.phx_ref)
      assert.deepEqual(ann.joins[2], { key: 'bob', current: { metas: [b1] }, joined: { metas: [b2] } })

      // an update is a join of the new meta, then a leave of the old one
      assert.deepEqual(await ann.ch.push('user_estimated', { points: 2 }), { status: 'ok', response: {} })
      await waitFor(() => ann.leaves.length === 1, 5000, 'onLeave for ann\'s old meta', () => ann.rec.describe())
      const [annNew] = ann.metas('ann')
      assert.equal(annNew.points, 2)
      assert.equal(annNew.phx_ref_prev, annMeta.phx_ref)
      assert.deepEqual(ann.joins[3], { key: 'ann', current: { metas: [annMeta] }, joined: { metas: [annNew] } })
      assert.deepEqual(ann.leaves[0], { key: 'ann', current: { metas: [annNew] }, left: { metas: [annMeta] } })

      assert.deepEqual(await bob2.leave(), { status: 'ok', response: {} })
      await waitFor(() => ann.leaves.length === 2, 5000, 'onLeave for bob\'s second tab', () => ann.rec.describe())
      assert.deepEqual(ann.leaves[1], { key: 'bob', current: { metas: [b1] }, left: { metas: [b2] } })
      assert.deepEqual(ann.keys(), ['ann', 'bob'])

      assert.deepEqual(await bob1.leave(), { status: 'ok', response: {} })
      await waitFor(() => ann.leaves.length === 3, 5000, 'onLeave for bob', () => ann.rec.describe())
      assert.deepEqual(ann.leaves[2], { key: 'bob', current: { metas: [] }, left: { metas: [b1] } })
      assert.deepEqual(ann.keys(), ['ann'])
      assert.equal(ann.joins.length, 4, `no further onJoin: ${fmt(ann.joins)}`)
    }))
  })
}
