// Live components in headless Chromium with the official phoenix_live_view
// client: an event targeted at a component (phx-target) changes only that
// component, and a component removed from the page is destroyed on both
// sides through the client's cids_will_destroy / cids_destroyed exchange,
// which frees its server state (the view shows the server's count).

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, waitFor } from './server.mjs'
import { launch, openPage } from './browser.mjs'

describe('live components in headless Chromium', () => {
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

  it('targets one component and destroys removed ones', { timeout: 60000 }, async () => {
    const { page, problems, frames, sent } = await openPage(browser.context, `${server.base}/e2e/components`, 'components')
    await page.waitForSelector('.phx-connected', { timeout: 10000 })
    const cidOf = sel => page.getAttribute(sel, 'data-phx-component')
    const two = Number(await cidOf('#card-two'))
    assert.ok(two > 0, 'card two carries its cid')

    const count = async () => {
      await page.click('#count')
      return page.textContent('#live-count')
    }
    await waitFor(async () => (await count()) === '3', 5000, 'the server holds 3 components')

    const before = frames.length
    await page.click('#card-two .bump')
    await waitFor(async () => (await page.textContent('#card-two .n')) === '1', 5000, 'card two counted the click')
    assert.equal(await page.textContent('#card-one .n'), '0')
    assert.equal(await page.textContent('#card-three .n'), '0')
    // the event carried the cid and the reply's diff holds only that cid
    const ev = sent.map(f => JSON.parse(f.payload)).find(m => m[3] === 'event' && m[4].event === 'bump')
    assert.equal(ev[4].cid, two)
    const replies = frames.slice(before).map(f => JSON.parse(f.payload)).filter(m => m[3] === 'phx_reply' && m[4].response && m[4].response.diff)
    assert.equal(replies.length, 1, 'one reply with a diff')
    assert.deepEqual(Object.keys(replies[0][4].response.diff), ['c'])
    assert.deepEqual(Object.keys(replies[0][4].response.diff.c), [String(two)])

    // remove card three: the client destroys it, the server frees it
    const three = Number(await cidOf('#card-three'))
    await page.click('#remove')
    await waitFor(async () => (await page.$('#card-three')) === null, 5000, 'card three left the page')
    await waitFor(() => sent.some(f => f.payload.includes('"cids_destroyed"')), 10000, 'the client sent cids_destroyed')
    const destroyed = sent.map(f => JSON.parse(f.payload)).filter(m => m[3] === 'cids_destroyed')
    assert.deepEqual(destroyed[0][4].cids, [three])
    await waitFor(async () => (await count()) === '2', 5000, 'the server holds 2 components')
    // the remaining components still work
    await page.click('#card-one .bump')
    await waitFor(async () => (await page.textContent('#card-one .n')) === '1', 5000, 'card one counted the click')
    assert.equal(await page.textContent('#card-two .n'), '1')
    assert.deepEqual(problems, [])
  })
})
