// The chat (LiveView streams) in headless Chromium with the real
// phoenix_live_view client: two viewers of one room; a message sent by one
// appears in both and its WebSocket frame carries that message only; edit
// and delete reach both; scrolling to the top loads older messages 10 at a
// time while the page never holds more than 30; no console errors.

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, waitFor } from './server.mjs'
import { launch, openPage } from './browser.mjs'

const LIMIT = 30

describe('chat streams in headless Chromium', () => {
  let server
  let browser

  before(async () => {
    server = await startServer()
    browser = await launch()
  })

  after(async () => {
    if (browser) await browser.close()
    if (server) await server.stop()
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
    const url = user => `${server.base}/chat/rooms/1?user=${user}`
    const ann = await openPage(browser.context, url('ann'), 'ann')
    const bob = await openPage(browser.context, url('bob'), 'bob')
    for (const p of [ann, bob]) {
      await p.page.waitForSelector('.phx-connected', { timeout: 10000 })
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
    const bob = await openPage(browser.context, `${server.base}/chat/rooms/1?user=bob`, 'bob')
    try {
      await bob.page.waitForSelector('.phx-connected', { timeout: 10000 })
      await watchMax(bob)
      const deadline = Date.now() + 60000
      const firsts = []
      while (true) {
        const list = await ids(bob)
        assert.ok(list.length <= LIMIT, `${list.length} messages on the page`)
        assert.ok(inOrder(list), `out of order: ${list.join(' ')}`)
        if (firsts.at(-1) !== list[0]) firsts.push(list[0])
        if (list[0] === 'messages-1') break
        assert.ok(Date.now() < deadline, `scroll-back stalled at ${list[0]} (${list.length})`)
        await bob.page.evaluate(() => {
          const s = document.getElementById('scroller')
          s.scrollTop = s.scrollHeight
        })
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
    const bob = await openPage(browser.context, `${server.base}/chat/rooms/1?user=bob`, 'bob')
    try {
      await bob.page.waitForSelector('.phx-connected', { timeout: 10000 })
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

  it('the message box validates live, only once touched', { timeout: 60000 }, async () => {
    const url = user => `${server.base}/chat/rooms/3?user=${user}`
    const ann = await openPage(browser.context, url('ann'), 'ann')
    const bob = await openPage(browser.context, url('bob'), 'bob')
    for (const p of [ann, bob]) await p.page.waitForSelector('.phx-connected', { timeout: 10000 })
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
