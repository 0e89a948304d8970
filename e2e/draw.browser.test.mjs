// The whiteboard in headless Chromium, as people use it: ann and bob join
// one board in two windows; ann draws a line with the mouse and bob's
// canvas shows it, with ann's cursor; carl joins late and gets the drawing
// so far; ann closes her window and leaves bob's list. No console errors.

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, waitFor } from './server.mjs'
import { launch, openPage } from './browser.mjs'
import { unique } from './clients.mjs'

describe('whiteboard in headless Chromium', () => {
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

  // inked reports whether the canvas has paint at fraction (x, y).
  const inked = (p, x, y) => p.page.evaluate(([x, y]) => {
    const c = document.getElementById('board')
    const px = c.getContext('2d').getImageData(Math.round(x * c.width), Math.round(y * c.height), 1, 1).data
    return px[3] > 0
  }, [x, y])
  const members = p => p.page.evaluate(() => [...document.querySelectorAll('#members li')].map(li => li.dataset.user))

  it('a line drawn in one window appears in the other and for a late joiner; presence follows', { timeout: 90000 }, async () => {
    const url = `${server.base}/draw?board=${unique('b')}`
    const join = async name => {
      const p = await openPage(browser.context, url, name)
      await p.page.fill('#username', name)
      await p.page.click('#join')
      await p.page.waitForFunction(n => document.getElementById('status').textContent.includes(`as ${n}`), name, { timeout: 10000 })
      return p
    }
    const ann = await join('ann')
    const bob = await join('bob')
    const pages = [ann, bob]
    try {
      for (const p of pages) await waitFor(async () => JSON.stringify(await members(p)) === '["ann","bob"]', 5000, 'both listed as drawing')
      assert.equal(await inked(bob, 0.5, 0.5), false, 'the board starts blank')

      // Ann drags the mouse across the middle of her canvas.
      const box = await ann.page.locator('#board').boundingBox()
      await ann.page.mouse.move(box.x + box.width * 0.2, box.y + box.height * 0.5)
      await ann.page.mouse.down()
      for (let i = 1; i <= 12; i++) await ann.page.mouse.move(box.x + box.width * (0.2 + 0.05 * i), box.y + box.height * 0.5)
      await ann.page.mouse.up()

      await bob.page.waitForFunction(() => window.drawn === 1, null, { timeout: 5000 })
      assert.equal(await inked(bob, 0.5, 0.5), true, 'bob sees ann\'s line in the middle')
      assert.equal(await inked(bob, 0.5, 0.2), false, 'and nothing elsewhere')
      assert.equal(await inked(ann, 0.5, 0.5), true, 'ann sees her own line')
      // Ann's cursor shows in bob's window, not in her own.
      await bob.page.waitForSelector('.cursor[data-user="ann"]', { timeout: 5000 })
      assert.equal(await ann.page.locator('.cursor[data-user="ann"]').count(), 0)

      // Carl joins late: he gets the drawing so far.
      const carl = await join('carl')
      pages.push(carl)
      await carl.page.waitForFunction(() => window.drawn === 1, null, { timeout: 5000 })
      assert.equal(await inked(carl, 0.5, 0.5), true, 'carl gets the line drawn before he came')
      await waitFor(async () => JSON.stringify(await members(bob)) === '["ann","bob","carl"]', 5000, 'carl listed')

      // Ann closes her window.
      assert.deepEqual(ann.problems, [])
      await ann.page.close()
      await waitFor(async () => JSON.stringify(await members(bob)) === '["bob","carl"]', 5000, 'ann gone from bob\'s list')
      assert.deepEqual([...bob.problems, ...carl.problems], [])
    } finally {
      for (const p of pages) await p.page.close().catch(() => {})
    }
  })
})
