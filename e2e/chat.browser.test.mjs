// The chat (LiveView streams) in headless Chromium with the real
// phoenix_live_view client: two users, each logged in through the form in
// a browser of their own; a message sent by one appears in both and its
// WebSocket frame carries that message only; edit and delete reach both,
// and only the author can make them (a forged push gets an error and
// changes nothing); the room opens at the newest message and stays pinned
// to the bottom unless the reader scrolled up ("N new messages ↓");
// scrolling to the top loads older messages 10 at a time while the page
// never holds more than 30, with a loading indicator and a beginning
// marker; scrolling back down slides the window to the present by message
// id, with messages sent meanwhile, no hole and no duplicate; no console
// errors.

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, waitFor } from './server.mjs'
import { launch, openPage } from './browser.mjs'

const LIMIT = 30

describe('chat streams in headless Chromium', () => {
  let server
  let browser // ann's
  let other // bob's: a browser of its own, so its own login cookie

  before(async () => {
    server = await startServer()
    browser = await launch()
    other = await launch()
    for (const [b, name] of [[browser, 'ann'], [other, 'bob']]) {
      const p = await openPage(b.context, `${server.base}/chat/login?next=/chat/rooms/1`, name)
      await p.page.fill('#login-form input[name=user]', name)
      await Promise.all([p.page.waitForURL(/\/chat\/rooms\/1$/), p.page.click('#login-form button')])
      assert.equal(await p.page.textContent('#me strong'), name)
      // Closed once live: closing the page that a login redirect just
      // loaded hung Chromium's page.close() in about 1 of 3 tries.
      await p.page.waitForSelector('.phx-connected', { timeout: 10000 })
      assert.deepEqual(p.problems, [])
      await p.page.close()
    }
  })

  after(async () => {
    if (browser) await browser.close()
    if (other) await other.close()
    if (server) await server.stop()
  })

  // room opens room id in a logged-in browser and waits for the join.
  const room = async (b, id, name) => {
    const p = await openPage(b.context, `${server.base}/chat/rooms/${id}`, name)
    await p.page.waitForSelector('.phx-connected', { timeout: 10000 })
    return p
  }
  const scrollState = p => p.page.evaluate(() => {
    const s = document.getElementById('scroller')
    return { top: s.scrollTop, bottom: s.scrollHeight - s.scrollTop - s.clientHeight }
  })

  const ids = p => p.page.$$eval('#messages > *', els => els.map(e => e.id))

  // watchMax records in window.maxMessages the most children the stream
  // container ever had.
  const watchMax = p => p.page.evaluate(() => {
    const el = document.getElementById('messages')
    window.maxMessages = el.children.length
    new MutationObserver(() => { window.maxMessages = Math.max(window.maxMessages, el.children.length) })
      .observe(el, { childList: true })
  })

  it('send, edit, delete reach both viewers, one message per frame', { timeout: 120000 }, async (t) => {
    const ann = await room(browser, 1, 'ann')
    const bob = await room(other, 1, 'bob')
    for (const p of [ann, bob]) {
      assert.equal((await ids(p)).length, 10)
      // Record the most children the stream container ever had.
      await p.page.evaluate(() => {
        const el = document.getElementById('messages')
        window.maxMessages = el.children.length
        new MutationObserver(() => { window.maxMessages = Math.max(window.maxMessages, el.children.length) })
          .observe(el, { childList: true })
      })
    }

    // Send: both see it; bob's frame holds that one message.
    const sentAt = Date.now()
    await ann.page.fill('form.send input[name=body]', 'hello from ann')
    await ann.page.press('form.send input[name=body]', 'Enter')
    for (const p of [ann, bob]) {
      await waitFor(async () => (await p.page.textContent('#messages')).includes('hello from ann'), 3000, `${p === ann ? 'ann' : 'bob'} sees the message`)
    }
    const newID = (await ids(bob)).at(-1)
    assert.match(newID, /^messages-\d+$/)
    assert.equal(await ann.page.inputValue('form.send input[name=body]'), '', 'the input is cleared')
    const pushes = bob.frames.filter(f => f.at >= sentAt && f.payload.includes('hello from ann'))
    assert.equal(pushes.length, 1)
    const named = new Set(pushes[0].payload.match(/messages-\d+/g))
    assert.deepEqual([...named], [newID], `the frame names only the new message: ${pushes[0].payload}`)
    t.diagnostic(`one new message: ${pushes[0].payload.length} bytes: ${pushes[0].payload}`)

    // Edit in place.
    await ann.page.click(`#${newID} button.edit`)
    await ann.page.waitForSelector(`#${newID} .edit-form`)
    await ann.page.fill(`#${newID} .edit-form input[name=body]`, 'hello, edited')
    await ann.page.press(`#${newID} .edit-form input[name=body]`, 'Enter')
    for (const p of [ann, bob]) {
      await waitFor(async () => (await p.page.textContent(`#${newID}`)).includes('hello, edited'), 3000, 'the edit reaches both')
      assert.equal((await ids(p)).at(-1), newID, 'edited in place')
    }

    // Bob has no buttons on ann's message, and a push he forges is
    // refused with an error; nothing changes for anyone.
    assert.equal(await bob.page.$(`#${newID} button.delete`), null)
    await bob.page.evaluate(id => {
      window.liveSocket.js().push(document.getElementById('messages'), 'delete', { value: { id } })
      window.liveSocket.js().push(document.getElementById('messages'), 'save', { value: { id, body: 'bob was here' } })
    }, newID.slice(9))
    await waitFor(async () => (await bob.page.textContent('#error').catch(() => '')).includes('only its author'), 3000, 'the refusal')
    for (const p of [ann, bob]) {
      assert.ok((await p.page.textContent(`#${newID}`)).includes('hello, edited'))
    }
    // The login cookie cannot be forged: another name's cookie is refused.
    const forged = await openPage(other.context, `${server.base}/chat/rooms/1`, 'forger')
    const cookies = await other.context.cookies()
    const real = cookies.find(c => c.name === 'parley_chat_user')
    assert.ok(real, 'bob has a login cookie')
    const [enc, sig] = real.value.split('.')
    const fake = Buffer.from(enc, 'base64url')
    fake.write('{"user":"ann"}', 8) // the payload after the 8-byte time
    await other.context.addCookies([{ ...real, value: fake.toString('base64url') + '.' + sig }])
    await forged.page.reload()
    await forged.page.waitForSelector('.phx-connected', { timeout: 10000 })
    assert.ok(await forged.page.$('#bad-login'), 'the forged cookie is reported')
    assert.equal(await forged.page.$('form.send'), null, 'no send form for a forged identity')
    assert.equal(await forged.page.$(`#${newID} button.delete`), null)
    await other.context.addCookies([real])
    await forged.page.close()

    // Delete.
    await ann.page.click(`#${newID} button.delete`)
    for (const p of [ann, bob]) {
      await waitFor(async () => !(await ids(p)).includes(newID), 3000, 'the delete reaches both')
    }

    assert.deepEqual([...ann.problems, ...bob.problems], [])
  })

  // inOrder reports whether a page's message ids are consecutive and
  // ascending (the room's ids are 1..45 without gaps).
  const inOrder = list => list.every((id, i) => i === 0 || Number(id.slice(9)) === Number(list[i - 1].slice(9)) + 1)

  // The InfiniteScroll hook locks the stream container while a viewport
  // event is in flight; the view sends each page in the reply to the
  // {id} event of the scroll (the client unlocks before applying it).
  it('scroll-back loads older pages in order and stays within the limit', { timeout: 120000 }, async (t) => {
    const bob = await room(other, 1, 'bob')
    try {
      await watchMax(bob)
      // Record whether the loading indicator showed while a page was in
      // flight (the container is locked then).
      await bob.page.evaluate(() => {
        const el = document.getElementById('messages')
        window.loadingShown = 0
        new MutationObserver(() => {
          const l = document.getElementById('loading-older')
          if (el.hasAttribute('data-phx-ref-lock') && l && getComputedStyle(l).display !== 'none') window.loadingShown++
        }).observe(el, { attributes: true, attributeFilter: ['data-phx-ref-lock'] })
      })
      assert.equal(await bob.page.$('#beginning'), null, 'no beginning marker at the newest messages')
      const deadline = Date.now() + 60000
      const firsts = []
      while (true) {
        const list = await ids(bob)
        assert.ok(list.length <= LIMIT, `${list.length} messages on the page`)
        assert.ok(inOrder(list), `out of order: ${list.join(' ')}`)
        if (firsts.at(-1) !== list[0]) firsts.push(list[0])
        if (list[0] === 'messages-1') break
        assert.ok(Date.now() < deadline, `scroll-back stalled at ${list[0]} (${list.length})`)
        // A little down (not to the bottom, which would load newer
        // messages), then up.
        await bob.page.evaluate(() => { document.getElementById('scroller').scrollTop += 60 })
        // The hook compares scroll positions: wait until it has seen the
        // scroll down before scrolling up.
        await bob.page.evaluate(() => new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve))))
        await bob.page.evaluate(() => { document.getElementById('scroller').scrollTop = 0 })
        await waitFor(async () => (await ids(bob))[0] !== list[0], 1500, 'an older page').catch(() => {})
      }
      // Each scroll to the top loaded exactly the page before.
      assert.deepEqual(firsts, ['messages-36', 'messages-26', 'messages-16', 'messages-6', 'messages-1'])
      // 1..30: the oldest pages, in order; the limit dropped the newest.
      assert.deepEqual(await ids(bob), Array.from({ length: LIMIT }, (_, i) => `messages-${i + 1}`))
      assert.equal(await bob.page.getAttribute('#messages', 'phx-viewport-top'), null, 'no more pages')
      assert.ok(await bob.page.isVisible('#beginning'), 'the beginning of the conversation is marked')
      assert.ok(await bob.page.evaluate(() => window.loadingShown) > 0, 'the loading indicator showed while a page was in flight')
      const max = await bob.page.evaluate(() => window.maxMessages)
      assert.ok(max <= LIMIT, `the page held ${max} messages`)
      t.diagnostic(`scroll-back: ${firsts.length - 1} pages, at most ${max} messages on the page`)
      assert.deepEqual(bob.problems, [])
    } finally {
      await bob.page.close().catch(() => {})
    }
  })

  // A page that reaches the container while another viewport event is in
  // flight is applied to the locked clone and merged back appended and
  // unlimited; the reply to that later event (which names the message that
  // was first before the page) sends the page again and puts it in order.
  it('a page that lands while another viewport event is in flight is put back in order', { timeout: 120000 }, async () => {
    const bob = await room(other, 1, 'bob')
    try {
      await watchMax(bob)
      for (const [first, want] of [['messages-36', 20], ['messages-26', 30], ['messages-16', 30]]) {
        // Two events for the same first child, both in flight at once:
        // the first loads the page, the second arrives stale.
        await bob.page.evaluate(id => {
          const el = document.getElementById('messages')
          window.liveSocket.js().push(el, 'load_more', { value: { id } })
          window.liveSocket.js().push(el, 'load_more', { value: { id, _overran: true } })
        }, first)
        await waitFor(async () => {
          const list = await ids(bob)
          return list[0] !== first && list.length === want && inOrder(list) && !(await bob.page.$('#messages[data-phx-ref-lock]'))
        }, 5000, `the page before ${first} in order (${(await ids(bob)).join(' ')})`)
      }
      assert.deepEqual(await ids(bob), Array.from({ length: LIMIT }, (_, i) => `messages-${i + 6}`))
      assert.deepEqual(bob.problems, [])
    } finally {
      await bob.page.close().catch(() => {})
    }
  })

  it('opens at the newest message, stays pinned, counts what arrives above the fold', { timeout: 120000 }, async () => {
    const ann = await room(browser, 2, 'ann')
    const bob = await room(other, 2, 'bob')
    try {
      for (const p of [ann, bob]) {
        await waitFor(async () => (await scrollState(p)).bottom <= 8, 3000, 'opened at the bottom')
        assert.ok((await scrollState(p)).top > 0, 'the room is taller than its box')
        assert.ok(await p.page.isVisible('#messages > :last-child'))
      }
      // Pinned: a new message is followed down, on both sides.
      await ann.page.fill('form.send input[name=body]', 'pinned one')
      await ann.page.press('form.send input[name=body]', 'Enter')
      for (const p of [ann, bob]) {
        await waitFor(async () => (await p.page.textContent('#messages > :last-child')).includes('pinned one'), 3000, 'the message')
        await waitFor(async () => (await scrollState(p)).bottom <= 8, 3000, 'still at the bottom')
      }
      assert.equal(await bob.page.$('#new-messages'), null)
      // Bob scrolls up a little: new messages do not move him; a count
      // says how many arrived.
      await bob.page.evaluate(() => { document.getElementById('scroller').scrollTop = 40 })
      await waitFor(async () => bob.sent.some(f => f.payload.includes('"pinned"') && f.payload.includes('false')), 3000, 'the hook says bob left the bottom')
      for (const body of ['above the fold 1', 'above the fold 2']) {
        await ann.page.fill('form.send input[name=body]', body)
        await ann.page.press('form.send input[name=body]', 'Enter')
        await waitFor(async () => (await ann.page.textContent('#messages > :last-child')).includes(body), 3000, 'ann sees it')
      }
      await waitFor(async () => (await bob.page.textContent('#new-messages').catch(() => '')).includes('2 new messages'), 3000, 'the count')
      assert.equal((await scrollState(bob)).top, 40, 'bob was not moved')
      await bob.page.click('#new-messages')
      await waitFor(async () => (await scrollState(bob)).bottom <= 8 && !(await bob.page.$('#new-messages')), 3000, 'back at the bottom, count gone')
      assert.ok((await bob.page.textContent('#messages > :last-child')).includes('above the fold 2'))
      // Ann's own message while scrolled up brings her to the bottom.
      await ann.page.evaluate(() => { document.getElementById('scroller').scrollTop = 40 })
      await ann.page.fill('form.send input[name=body]', 'mine')
      await ann.page.press('form.send input[name=body]', 'Enter')
      await waitFor(async () => (await ann.page.textContent('#messages > :last-child')).includes('mine') && (await scrollState(ann)).bottom <= 8, 3000, 'her message in view')
      assert.deepEqual([...ann.problems, ...bob.problems], [])
    } finally {
      await ann.page.close().catch(() => {})
      await bob.page.close().catch(() => {})
    }
  })

  // After scrolling back to the first message (the limit dropped the
  // newest), messages sent meanwhile are not appended under the old
  // window; scrolling down loads the next pages by id, with them.
  it('scrolling back down slides to the present: no hole, no duplicate', { timeout: 120000 }, async (t) => {
    const ann = await room(browser, 1, 'ann')
    const bob = await room(other, 1, 'bob')
    try {
      await watchMax(bob)
      const scrollTo = (p, where) => p.page.evaluate(w => {
        const s = document.getElementById('scroller')
        const end = s.scrollHeight - s.clientHeight
        s.scrollTop = { top: 0, bottom: end, nearTop: 60, nearBottom: end - 60 }[w]
      }, where)
      const frame = p => p.page.evaluate(() => new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve))))
      let deadline = Date.now() + 60000
      let sentBetween = 0
      while ((await ids(bob))[0] !== 'messages-1') {
        assert.ok(Date.now() < deadline, 'scroll-back stalled')
        const first = (await ids(bob))[0]
        await scrollTo(bob, 'nearTop')
        await frame(bob)
        await scrollTo(bob, 'top')
        await waitFor(async () => (await ids(bob))[0] !== first, 1500, 'an older page').catch(() => {})
        if (sentBetween === 0 && (await ids(bob)).length === LIMIT) {
          // Sent while bob reads the past, between two of his pages.
          await ann.page.fill('form.send input[name=body]', 'while bob reads the past')
          await ann.page.press('form.send input[name=body]', 'Enter')
          sentBetween++
        }
      }
      await waitFor(async () => (await bob.page.textContent('#new-messages').catch(() => '')).includes('1 new message'), 3000, 'bob is told')
      assert.ok(!(await bob.page.textContent('#messages')).includes('while bob reads'), 'not appended under the old window')
      deadline = Date.now() + 60000
      let sentDown = false
      while ((await bob.page.getAttribute('#scroller', 'data-present')) !== 'true') {
        assert.ok(Date.now() < deadline, `slide down stalled at ${(await ids(bob)).at(-1)}`)
        const last = (await ids(bob)).at(-1)
        await scrollTo(bob, 'nearBottom')
        await frame(bob)
        await scrollTo(bob, 'bottom')
        await waitFor(async () => (await ids(bob)).at(-1) !== last, 1500, 'a newer page').catch(() => {})
        if (!sentDown) {
          await ann.page.fill('form.send input[name=body]', 'while bob scrolls down')
          await ann.page.press('form.send input[name=body]', 'Enter')
          sentDown = true
        }
      }
      const annIDs = await ids(ann)
      const list = await ids(bob)
      assert.equal(new Set(list).size, list.length, `duplicates: ${list.join(' ')}`)
      assert.deepEqual(list.slice(-annIDs.length), annIDs, 'bob ends where ann is: the present, no hole')
      const text = await bob.page.textContent('#messages')
      assert.ok(text.includes('while bob reads the past') && text.includes('while bob scrolls down'))
      const max = await bob.page.evaluate(() => window.maxMessages)
      assert.ok(max <= LIMIT + 1, `the page held ${max} messages`)
      t.diagnostic(`slid back to the present: ${list.length} messages, at most ${max} on the page`)
      assert.deepEqual([...ann.problems, ...bob.problems], [])
    } finally {
      await ann.page.close().catch(() => {})
      await bob.page.close().catch(() => {})
    }
  })

  // Seed 000's notifications across devices: an unread badge per room on
  // every tab of a user, batched for a burst, cleared on all tabs when the
  // room is read in one.
  it('unread badges follow the user across tabs, batched, cleared everywhere', { timeout: 120000 }, async () => {
    const tab1 = await room(browser, 3, 'ann tab 1')
    const tab2 = await room(browser, 3, 'ann tab 2')
    const bob = await room(other, 2, 'bob')
    try {
      const badge = async p => {
        const el = await p.page.$('#unread-2')
        return el ? Number((await el.textContent()).match(/\d+/)[0]) : 0
      }
      const before = await badge(tab1)
      assert.equal(await badge(tab2), before)
      const since = Date.now()
      for (let i = 1; i <= 5; i++) {
        await bob.page.fill('form.send input[name=body]', `burst ${i}`)
        await bob.page.press('form.send input[name=body]', 'Enter')
      }
      for (const p of [tab1, tab2]) await waitFor(async () => (await badge(p)) === before + 5, 5000, `${p === tab1 ? 'tab 1' : 'tab 2'}: ${before + 5} new in #sre-team`)
      assert.equal(await tab1.page.textContent('#unread-2'), `${before + 5} new`)
      // Batched: fewer badge updates than messages.
      const updates = tab2.frames.filter(f => f.at >= since && f.payload.includes('unread-2')).length
      assert.ok(updates < 5, `${updates} badge updates for 5 messages`)
      // Read in tab 1: the badge goes on both tabs.
      await Promise.all([tab1.page.waitForURL(/\/chat\/rooms\/2$/), tab1.page.click('#room-2')])
      await tab1.page.waitForSelector('.phx-connected', { timeout: 10000 })
      await waitFor(async () => (await badge(tab2)) === 0, 5000, 'tab 2: the badge cleared')
      assert.ok((await tab1.page.textContent('#messages')).includes('burst 5'))
      assert.deepEqual([...tab1.problems, ...tab2.problems, ...bob.problems], [])
    } finally {
      for (const p of [tab1, tab2, bob]) await p.page.close().catch(() => {})
    }
  })

  it('the message box validates live, only once touched', { timeout: 60000 }, async () => {
    const ann = await room(browser, 3, 'ann')
    const bob = await room(other, 3, 'bob')
    const box = 'form.send input[name=body]'
    const error = async p => {
      const el = await p.page.$('#body-error')
      return el ? el.textContent() : null
    }
    assert.equal(await error(ann), null, 'no error before the box is touched')
    await ann.page.fill(box, 'x')
    await ann.page.fill(box, '')
    await waitFor(async () => (await error(ann)) === "A message can't be empty.", 5000, 'the empty error shows live')
    await ann.page.fill(box, 'y'.repeat(501))
    await waitFor(async () => ((await error(ann)) || '').includes('at most 500 characters'), 5000, 'the too-long error shows live')
    await ann.page.press(box, 'Enter')
    await ann.page.fill(box, 'short and sweet')
    await waitFor(async () => (await error(ann)) === null, 5000, 'the error clears')
    await ann.page.press(box, 'Enter')
    for (const p of [ann, bob]) {
      await waitFor(async () => (await p.page.textContent('#messages')).includes('short and sweet'), 5000, 'both see the message')
      assert.ok(!(await p.page.textContent('#messages')).includes('y'.repeat(501)), 'the too-long message was not sent')
    }
    assert.equal(await error(bob), null, "bob never sees ann's errors")

    // the edit form validates live too
    const msgId = await ann.page.locator('.msg', { hasText: 'short and sweet' }).getAttribute('id')
    const mine = ann.page.locator(`#${msgId}`)
    await mine.locator('button.edit').click()
    const input = mine.locator('form.edit-form input[name=body]')
    await input.waitFor({ timeout: 5000 })
    assert.equal(await mine.locator('.edit-error').count(), 0, 'no error before the edit box is touched')
    await input.fill('')
    await waitFor(async () => (await mine.locator('.edit-error').count()) === 1, 5000, 'the edit error shows live')
    assert.equal(await mine.locator('.edit-error').textContent(), "A message can't be empty.")
    await input.fill('short, sweet, edited')
    await waitFor(async () => (await mine.locator('.edit-error').count()) === 0, 5000, 'the edit error clears')
    await input.press('Enter')
    for (const p of [ann, bob]) {
      await waitFor(async () => (await p.page.textContent('#messages')).includes('short, sweet, edited'), 5000, 'both see the edit')
    }
    assert.deepEqual([...ann.problems, ...bob.problems], [])
  })
})
