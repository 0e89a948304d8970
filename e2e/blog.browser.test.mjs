// The blog's reading ghosts in headless Chromium with the real
// phoenix_live_view client: two readers of one post see each other's tag;
// scrolling one page moves its tag in the other (the ReadingGhost hook
// pushes the position, the other page gets one small diff per move);
// closing one page removes its tag from the other; no console errors.

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, waitFor } from './server.mjs'
import { launch, openPage } from './browser.mjs'

describe('blog reading ghosts in headless Chromium', () => {
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

  function describePages (pages) {
    return () => pages.map(p => `--- ${p.name} problems: ${JSON.stringify(p.problems)}\nframes:\n${p.frames.slice(-20).map(f => '  ' + f.payload).join('\n')}`).join('\n')
  }

  // topOf returns the tag's style top in percent, or null without the tag.
  const topOf = (p, key) => p.page.evaluate(k => {
    const el = document.getElementById(`ghost-${k}`)
    return el ? parseFloat(el.style.top) : null
  }, key)

  // scrollTo scrolls p's window to fraction f of its scrollable height.
  const scrollTo = (p, f) => p.page.evaluate(f => {
    window.scrollTo(0, (document.documentElement.scrollHeight - window.innerHeight) * f)
  }, f)

  it('two readers: scrolling moves the tag in the other page, closing removes it', { timeout: 120000 }, async (t) => {
    const url = name => `${server.base}/blog/reading-in-company?name=${name}`
    const ann = await openPage(browser.context, url('ann'), 'ann')
    ann.name = 'ann'
    const bob = await openPage(browser.context, url('bob'), 'bob')
    bob.name = 'bob'
    const pages = [ann, bob]
    try {
      for (const p of pages) await p.page.waitForSelector('.phx-connected', { timeout: 10000 })
      const key = async p => waitFor(() => p.page.getAttribute('#ghost-me', 'data-key'), 5000, `${p.name}'s presence key`)
      const annKey = await key(ann)
      const bobKey = await key(bob)
      assert.notEqual(annKey, bobKey)

      // Each sees the other's tag at the top, and not its own among them.
      await waitFor(async () => (await topOf(bob, annKey)) === 0, 5000, 'bob to see ann at the top', describePages(pages))
      await waitFor(async () => (await topOf(ann, bobKey)) === 0, 5000, 'ann to see bob at the top', describePages(pages))
      assert.equal(await bob.page.getAttribute(`#ghost-${annKey}`, 'data-name'), 'ann')
      assert.equal(await topOf(ann, annKey), null)
      assert.equal(await ann.page.textContent('#readers'), '1 reading along')
      const scrollable = await ann.page.evaluate(() => document.documentElement.scrollHeight - window.innerHeight)
      assert.ok(scrollable > 1000, `the post scrolls by ${scrollable}px only`)

      // Ann scrolls to the middle, then the bottom: her tag follows in
      // bob's page, one small diff per move.
      const movedAt = Date.now()
      await scrollTo(ann, 0.5)
      await waitFor(async () => Math.abs((await topOf(bob, annKey)) - 50) <= 1, 3000, 'ann\'s tag in the middle of bob\'s page', describePages(pages))
      const boxMid = await bob.page.locator(`#ghost-${annKey}`).boundingBox()
      await scrollTo(ann, 1)
      await waitFor(async () => (await topOf(bob, annKey)) === 100, 3000, 'ann\'s tag at the bottom of bob\'s page', describePages(pages))
      // The tag itself moved down the article (after its transition).
      await waitFor(async () => (await bob.page.locator(`#ghost-${annKey}`).boundingBox()).y > boxMid.y + 500, 3000, 'the tag to move down')
      const moves = bob.frames.filter(f => f.at >= movedAt && f.payload.includes('"diff"'))
      assert.ok(moves.length >= 2, `bob got ${moves.length} diffs`)
      for (const f of moves) assert.ok(f.payload.length < 120, `a move frame of ${f.payload.length} bytes: ${f.payload}`)
      // ann's ghost is a live component: a move re-renders only it, so the
      // diff holds that one component and nothing of the view's own tree
      const annCid = await bob.page.getAttribute(`#ghost-${annKey}`, 'data-phx-component')
      for (const f of moves) {
        const d = JSON.parse(f.payload)[4]
        assert.deepEqual(Object.keys(d), ['c'], `a move diff outside the ghost component: ${f.payload}`)
        assert.deepEqual(Object.keys(d.c), [annCid], `a move diff of another component: ${f.payload}`)
      }
      t.diagnostic(`one move in bob's page: ${moves.at(-1).payload.length} bytes: ${moves.at(-1).payload}`)
      // Ann's own pushes are answered empty.
      const replies = ann.frames.filter(f => f.at >= movedAt && f.payload.includes('phx_reply') && f.payload.includes('"lv:'))
      assert.ok(replies.length >= 2)
      for (const f of replies) assert.match(f.payload, /"response":\{\}/)

      // Throttled: a burst of scrolling sends a handful of events, not one
      // per scroll event.
      // Counted on the frames ann sends: bob can see the last move before
      // ann's page has its reply, but not before ann sent it.
      const events = () => ann.sent.filter(f => f.payload.includes('"event"') && f.payload.includes('"lv:')).length
      const sentBefore = events()
      for (let i = 0; i <= 20; i++) await scrollTo(ann, 1 - i / 40)
      await waitFor(async () => (await topOf(bob, annKey)) === 50, 3000, 'ann\'s tag back in the middle', describePages(pages))
      const sent = events() - sentBefore
      assert.ok(sent >= 1 && sent < 21, `${sent} scroll events for 21 scrolls`)

      // Bob scrolls too: ann sees him move.
      await scrollTo(bob, 0.25)
      await waitFor(async () => Math.abs((await topOf(ann, bobKey)) - 25) <= 1, 3000, 'bob\'s tag in ann\'s page', describePages(pages))

      // Ann closes her tab: her tag leaves bob's page.
      const closedAt = Date.now()
      await ann.page.close()
      await waitFor(async () => (await topOf(bob, annKey)) === null, 5000, 'ann\'s tag to leave bob\'s page', describePages(pages))
      t.diagnostic(`tag removed ${Date.now() - closedAt} ms after the tab closed`)
      assert.equal(await bob.page.textContent('#readers'), 'Reading alone')

      assert.deepEqual([...ann.problems, ...bob.problems], [])
    } finally {
      for (const p of pages) await p.page.close().catch(() => {})
    }
  })
})
