// The Pointing Party flow through the official phoenix client, over
// WebSocket and long-poll: the driver starts pointing, everybody gets the
// card, votes end in a winner or a tie, only the driver deals the next
// card, and a new card clears every vote in presence (the channel
// intercepts "new_card").

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Presence } from 'phoenix'
import { startServer, waitFor } from './server.mjs'
import { Clients, Tracked, unique, fmt } from './clients.mjs'

const T = { timeout: 60000 }
const EVENTS = ['new_card', 'winner', 'tie', 'cards_done', 'driver']
const NOT_DRIVER = { reason: 'only the driver can deal the next card' }

// the first cards of the built-in deck (examples/party/deck.json)
const CARD1 = { id: 1, title: 'Sign in with a magic link', description: 'Users get a one-time link by email instead of a password.' }
const CARD2 = { id: 2, title: 'Export reports as CSV', description: 'Every report page gets a download button.' }
const CARD3 = { id: 3, title: 'Dark mode', description: 'Follow the system setting; remember a manual choice.' }

// Player is one user: a socket, the room channel, and a Presence on it.
class Player {
  constructor (c, transport, username, topic) {
    this.username = username
    this.rec = c.socket(transport, { params: { username } }, { name: `${username}@${transport}` })
    this.ch = new Tracked(this.rec, topic, {}, { events: EVENTS })
    this.presence = new Presence(this.ch.channel)
    this.syncs = 0
    this.presence.onSync(() => { this.syncs++ })
  }

  async join () {
    const reply = await this.ch.joinOk()
    await waitFor(() => this.syncs > 0, 10000, `${this.username}: first presence sync`, () => this.rec.describe())
    return reply
  }

  got (ev) { return this.ch.got(ev) }
  push (ev, payload) { return this.ch.push(ev, payload) }

  // points maps every listed user to the points in their metas (null when
  // not voted).
  points () {
    const out = {}
    this.presence.list((key, { metas }) => {
      const m = metas.find(x => x.points !== null && x.points !== undefined)
      out[key] = m ? m.points : null
    })
    return out
  }

  // waitPoints waits until this player's presence shows exactly want.
  waitPoints (want, timeoutMs = 5000) {
    return waitFor(() => fmt(sortKeys(this.points())) === fmt(sortKeys(want)), timeoutMs,
      `${this.username} to see points ${fmt(want)} (sees ${fmt(this.points())})`, () => this.rec.describe())
  }
}

function sortKeys (o) {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
}

for (const transport of ['websocket', 'longpoll']) {
  describe(`pointing party over ${transport}`, () => {
    let server
    before(async () => { server = await startServer() })
    after(async () => {
      if (server) {
        const res = await server.stop()
        assert.equal(res.code, 0, `server exit on SIGTERM: ${fmt(res)}\n${server.output()}`)
      }
    })

    // withRoom joins the named users to a fresh room, runs body with them,
    // and always closes every socket.
    async function withRoom (usernames, body) {
      const c = new Clients(server)
      const topic = `room:${unique('party')}`
      try {
        const players = usernames.map(u => new Player(c, transport, u, topic))
        for (const p of players) assert.deepEqual(await p.join(), { card: null, driver: '', closed: false }, `${p.username} join reply`)
        const nobody = Object.fromEntries(usernames.map(u => [u, null]))
        for (const p of players) await p.waitPoints(nobody)
        await body(players, { c, topic })
      } catch (err) {
        err.message += `\n--- client history ---\n${c.describe()}\n--- server output ---\n${server.output()}`
        throw err
      } finally {
        await c.closeAll()
      }
    }

    // everybody waits until they got n events ev, and returns the last ones.
    async function everybodyGets (players, ev, n) {
      for (const p of players) {
        await waitFor(() => p.got(ev).length >= n, 5000, `${p.username} to get ${n} ${ev}`, () => p.rec.describe())
      }
      for (const p of players) assert.equal(p.got(ev).length, n, `${p.username}: ${ev} events ${fmt(p.got(ev))}`)
      return players.map(p => p.got(ev)[n - 1])
    }

    // vote has each player vote in turn (each push awaited).
    async function vote (players, points) {
      for (let i = 0; i < players.length; i++) {
        assert.deepEqual(await players[i].push('user_estimated', { points: points[i] }), { status: 'ok', response: {} }, `${players[i].username} votes ${points[i]}`)
      }
    }

    it('start, majority winner, driver-only next card clears votes, tie', T, () => withRoom(['dee', 'eli', 'fay'], async (players, { c, topic }) => {
      const [dee, eli, fay] = players

      // start_pointing: ok, and everybody gets the first card with its driver
      assert.deepEqual(await dee.push('start_pointing', {}), { status: 'ok', response: {} })
      for (const card of await everybodyGets(players, 'new_card', 1)) {
        assert.deepEqual(card, { card: CARD1, driver: 'dee' })
      }

      // three votes with a majority: the winner goes to everybody, once
      await vote(players, [3, 5, 3])
      for (const w of await everybodyGets(players, 'winner', 1)) assert.deepEqual(w, { points: 3, votes: { dee: 3, eli: 5, fay: 3 } })
      for (const p of players) await p.waitPoints({ dee: 3, eli: 5, fay: 3 })
      for (const p of players) assert.deepEqual(p.got('tie'), [])

      // a late joiner gets the current card and driver in its join reply
      const late = new Player(c, transport, 'gus', topic)
      assert.deepEqual(await late.join(), { card: CARD1, driver: 'dee', closed: true })
      assert.deepEqual(sortKeys(late.points()), { dee: 3, eli: 5, fay: 3, gus: null })
      late.ch.channel.leave()
      for (const p of players) await p.waitPoints({ dee: 3, eli: 5, fay: 3 })

      // next_card by somebody else than the driver is refused, and deals nothing
      assert.deepEqual(await eli.push('next_card', { points: 3 }), { status: 'error', response: NOT_DRIVER })
      assert.deepEqual(await fay.push('next_card', { points: 5 }), { status: 'error', response: NOT_DRIVER })

      // next_card by the driver: everybody gets the next card, and every vote is cleared
      assert.deepEqual(await dee.push('next_card', { points: 3 }), { status: 'ok', response: {} })
      const cards = await everybodyGets(players, 'new_card', 2)
      for (const card of cards) assert.deepEqual(card, { card: CARD2, driver: 'dee' })
      for (const p of players) await p.waitPoints({ dee: null, eli: null, fay: null })
      for (const p of players) {
        // one meta each, whose ref changed with the clear
        for (const [key, { metas }] of Object.entries(p.presence.state)) {
          assert.equal(metas.length, 1, `${p.username}: metas of ${key}: ${fmt(metas)}`)
          assert.equal(metas[0].points, null)
          assert.ok(metas[0].phx_ref_prev, `${p.username}: ${key}'s meta was updated: ${fmt(metas)}`)
        }
      }

      // a three-way split: every value, ascending, and every vote
      await vote(players, [8, 2, 13])
      for (const tie of await everybodyGets(players, 'tie', 1)) assert.deepEqual(tie, { points: [2, 8, 13], votes: { dee: 8, eli: 2, fay: 13 } })
      for (const p of players) assert.equal(p.got('winner').length, 1, `${p.username}: no second winner`)

      // the driver saves the tie's lower value and deals the third card
      assert.deepEqual(await dee.push('next_card', { points: 2 }), { status: 'ok', response: {} })
      for (const card of await everybodyGets(players, 'new_card', 3)) assert.deepEqual(card, { card: CARD3, driver: 'dee' })
      for (const p of players) await p.waitPoints({ dee: null, eli: null, fay: null })
    }))

    it('a split vote is a tie of the most voted values, ascending', T, () => withRoom(['hal', 'ida', 'jon', 'kim'], async (players) => {
      assert.deepEqual(await players[1].push('start_pointing', {}), { status: 'ok', response: {} })
      for (const card of await everybodyGets(players, 'new_card', 1)) assert.deepEqual(card, { card: CARD1, driver: 'ida' })
      // 13 is voted first, and sorts before 8 as a string: the tie must be numeric
      await vote(players, [13, 8, 13, 8])
      for (const tie of await everybodyGets(players, 'tie', 1)) assert.deepEqual(tie, { points: [8, 13], votes: { hal: 13, ida: 8, jon: 13, kim: 8 } })
      for (const p of players) assert.deepEqual(p.got('winner'), [])
      // the driver is whoever started: the first joiner is not
      assert.deepEqual(await players[0].push('next_card', { points: 8 }), { status: 'error', response: NOT_DRIVER })
      assert.deepEqual(await players[1].push('next_card', { points: 8 }), { status: 'ok', response: {} })
      for (const card of await everybodyGets(players, 'new_card', 2)) assert.deepEqual(card, { card: CARD2, driver: 'ida' })
      for (const p of players) await p.waitPoints({ hal: null, ida: null, jon: null, kim: null })
    }))

    it('no tally while somebody has not voted', T, () => withRoom(['lea', 'max', 'ned'], async (players) => {
      const [lea, max, ned] = players
      assert.deepEqual(await lea.push('start_pointing', {}), { status: 'ok', response: {} })
      await everybodyGets(players, 'new_card', 1)
      await vote([lea, max], [5, 5])
      for (const p of players) await p.waitPoints({ lea: 5, max: 5, ned: null })
      // a round trip on every channel after the two votes: any tally they
      // had broadcast would have arrived before its reply
      for (const p of players) {
        assert.deepEqual(await p.push('user_estimated', { points: -1 }), { status: 'error', response: { reason: 'points must be a number from 0 to 100' } })
      }
      for (const p of players) assert.deepEqual([p.got('winner'), p.got('tie')], [[], []], `${p.username}: no tally before everybody voted`)
      // the last vote decides
      await vote([ned], [1])
      for (const w of await everybodyGets(players, 'winner', 1)) assert.deepEqual(w, { points: 5, votes: { lea: 5, max: 5, ned: 1 } })
      for (const p of players) assert.deepEqual(p.got('tie'), [])
    }))

    it('leavers do not block the round, the driver role is handed on, votes change until the close', T, () => withRoom(['oda', 'pia', 'quin', 'rex'], async (players) => {
      const [oda, pia, quin, rex] = players
      assert.deepEqual(await oda.push('start_pointing', {}), { status: 'ok', response: {} })
      await everybodyGets(players, 'new_card', 1)
      // bad votes: another card, no points; nothing changes
      assert.deepEqual(await pia.push('user_estimated', { points: 3, card: 2 }), { status: 'error', response: { reason: 'card 2 is not being estimated (card 1 is)' } })
      for (const p of players) await p.waitPoints({ oda: null, pia: null, quin: null, rex: null })
      // pia votes, then changes her mind; quin votes
      assert.deepEqual(await pia.push('user_estimated', { points: 3, card: 1 }), { status: 'ok', response: {} })
      assert.deepEqual(await pia.push('user_estimated', { points: 8, card: 1 }), { status: 'ok', response: {} })
      assert.deepEqual(await quin.push('user_estimated', { points: 8, card: 1 }), { status: 'ok', response: {} })
      for (const p of players) await p.waitPoints({ oda: null, pia: 8, quin: 8, rex: null })
      // the driver leaves without voting: the first remaining user drives
      oda.ch.channel.leave()
      const rest = [pia, quin, rex]
      for (const d of await everybodyGets(rest, 'driver', 1)) assert.deepEqual(d, { driver: 'pia' })
      for (const p of rest) assert.deepEqual([p.got('winner'), p.got('tie')], [[], []], 'rex has not voted')
      // rex leaves too: the two who voted are the round
      rex.ch.channel.leave()
      for (const w of await everybodyGets([pia, quin], 'winner', 1)) assert.deepEqual(w, { points: 8, votes: { pia: 8, quin: 8 } })
      // closed: no more changes
      assert.deepEqual(await quin.push('user_estimated', { points: 1, card: 1 }), { status: 'error', response: { reason: 'the round is closed: wait for the next card' } })
      for (const p of [pia, quin]) await p.waitPoints({ pia: 8, quin: 8 })
      // the new driver deals
      assert.deepEqual(await quin.push('next_card', { points: 8 }), { status: 'error', response: NOT_DRIVER })
      assert.deepEqual(await pia.push('next_card', { points: 8 }), { status: 'ok', response: {} })
      for (const card of await everybodyGets([pia, quin], 'new_card', 2)) assert.deepEqual(card, { card: CARD2, driver: 'pia' })
    }))
  })
}
