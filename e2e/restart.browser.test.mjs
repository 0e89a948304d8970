// Self-healing pages in headless Chromium: the server is killed with
// SIGKILL while a page is open. The page shows "Reconnecting…"; when the
// server comes back with the same -data (so the same secret key base), the
// view rejoins without a page load and forms recover their input; when it
// comes back with another secret, the join answers "stale" and the page
// reloads itself. No manual action in either case.

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { startServer, waitFor } from './server.mjs'
import { launch, openPage } from './browser.mjs'

const notice = '.parley-reconnecting'

describe('restarts with the page open', () => {
  let browser, dir
  const servers = []

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'parley-restart-'))
    browser = await launch()
  })

  after(async () => {
    for (const s of servers) await s.stop('SIGKILL').catch(() => {})
    if (browser) await browser.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  async function start (args, port = 0) {
    const s = await startServer({ port, args })
    servers.push(s)
    return s
  }

  it('counter: notice while down, rejoin without reload, reload on another secret', { timeout: 90000 }, async () => {
    const data = path.join(dir, 'counter')
    let server = await start(['-data', data])
    const port = server.port
    const { page } = await openPage(browser.context, `${server.base}/counter`, 'counter')
    await page.waitForSelector('[data-phx-main].phx-connected', { timeout: 10000 })
    assert.equal(await page.isVisible(notice), false, 'no notice while connected')
    await page.evaluate(() => { window.parleyMarker = 'before restart' })
    await page.click('#inc')
    await waitFor(async () => (await page.textContent('#count')) === '1', 5000, 'count 1')

    await server.stop('SIGKILL')
    let t0 = Date.now()
    await waitFor(() => page.isVisible(notice), 3000, 'the Reconnecting… notice within 3 s of kill -9')
    console.log(`notice shown ${Date.now() - t0} ms after kill -9`)

    server = await start(['-data', data], port)
    t0 = Date.now()
    await waitFor(async () => !(await page.isVisible(notice)), 5000, 'the notice gone within 5 s of the restart')
    console.log(`notice gone ${Date.now() - t0} ms after the restart (same secret)`)
    await page.waitForSelector('[data-phx-main].phx-connected', { timeout: 5000 })
    assert.equal(await page.evaluate(() => window.parleyMarker), 'before restart', 'the page did not reload')
    const before = Number(await page.textContent('#count'))
    await page.click('#inc')
    await waitFor(async () => Number(await page.textContent('#count')) === before + 1, 5000, 'a click after the rejoin')

    // Another secret: the old page's tokens no longer verify.
    await server.stop('SIGKILL')
    await waitFor(() => page.isVisible(notice), 3000, 'the notice after the second kill -9')
    const secretFile = path.join(dir, 'other-secret')
    await writeFile(secretFile, randomBytes(48).toString('base64url') + '\n', { mode: 0o600 })
    server = await start(['-data', data, '-secret-file', secretFile], port)
    t0 = Date.now()
    await waitFor(async () => {
      try {
        return (await page.evaluate(() => window.parleyMarker)) === undefined
      } catch { return false } // the page is navigating
    }, 10000, 'the page reloads itself within 10 s')
    await page.waitForSelector('[data-phx-main].phx-connected', { timeout: 10000 - (Date.now() - t0) })
    console.log(`page reloaded and live ${Date.now() - t0} ms after the restart (another secret)`)
    assert.equal(await page.isVisible(notice), false)
    await page.click('#inc')
    await waitFor(async () => (await page.textContent('#count')) === '1', 5000, 'a click after the reload')
    await server.stop()
    servers.length = 0
  })

  it('chat: the message box keeps its text and the server gets the recovered form', { timeout: 90000 }, async () => {
    const data = path.join(dir, 'chat')
    let server = await start(['-data', data])
    const port = server.port
    const { page } = await openPage(browser.context, `${server.base}/chat/login?next=/chat/rooms/1`, 'chat')
    await page.fill('#login-form input[name=user]', 'ann')
    await Promise.all([page.waitForURL(/\/chat\/rooms\/1$/), page.click('#login-form button')])
    await page.waitForSelector('[data-phx-main].phx-connected', { timeout: 10000 })
    const sent = []
    const received = []
    page.on('websocket', ws => {
      ws.on('framesent', f => sent.push(String(f.payload)))
      ws.on('framereceived', f => received.push(String(f.payload)))
    })
    await page.evaluate(() => { window.parleyMarker = 'chat' })
    const text = 'typed before the restart'
    await page.fill('form.send input[name=body]', text)

    await server.stop('SIGKILL')
    await waitFor(() => page.isVisible(notice), 3000, 'the notice')
    server = await start(['-data', data], port)
    await waitFor(async () => !(await page.isVisible(notice)), 5000, 'the notice gone')
    await page.waitForSelector('[data-phx-main].phx-connected', { timeout: 5000 })
    assert.equal(await page.evaluate(() => window.parleyMarker), 'chat', 'no reload')
    assert.equal(await page.inputValue('form.send input[name=body]'), text)

    // The client replayed the form's phx-change to the new mount, and the
    // server answered it.
    const recovery = await waitFor(() => sent.map(s => JSON.parse(s)).find(m =>
      m[3] === 'event' && m[4].event === 'draft' && m[4].type === 'form' && String(m[4].value).includes(encodeURIComponent(text).replace(/%20/g, '+'))
    ), 5000, 'the form recovery event', () => sent.join('\n'))
    await waitFor(() => received.map(s => JSON.parse(s)).find(m => m[1] === recovery[1] && m[3] === 'phx_reply' && m[4].status === 'ok'),
      5000, 'the reply to the recovery event', () => received.join('\n'))

    // The recovered form still sends.
    await page.click('form.send button')
    await waitFor(async () => (await page.locator('#messages .msg .body').allTextContents()).includes(text), 5000, 'the message sent')
    await server.stop()
    servers.length = 0
  })

  it('lobby and party: channel pages show the notice from the socket callbacks', { timeout: 90000 }, async () => {
    let server = await start(['-data', path.join(dir, 'channels')])
    const port = server.port
    const lobby = await openPage(browser.context, `${server.base}/lobby`, 'lobby')
    await lobby.page.fill('#username', 'ann')
    await lobby.page.click('#join')
    const party = await openPage(browser.context, `${server.base}/party?room=restart`, 'party')
    await party.page.fill('#username', 'bob')
    await party.page.click('#enter')
    const pages = [lobby.page, party.page]
    const shows = p => p.isVisible('#reconnecting')
    await waitFor(async () => lobby.frames.length > 0 && party.frames.length > 0, 10000, 'both sockets open')
    for (const p of pages) assert.equal(await shows(p), false, 'no notice while connected')
    await server.stop('SIGKILL')
    for (const p of pages) await waitFor(() => shows(p), 3000, 'the notice within 3 s of kill -9')
    server = await start(['-data', path.join(dir, 'channels')], port)
    for (const p of pages) await waitFor(async () => !(await shows(p)), 5000, 'the notice gone within 5 s of the restart')
    await server.stop()
    servers.length = 0
  })
})
