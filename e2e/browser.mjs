// Headless Chromium for the demo-page tests: Debian's /usr/bin/chromium
// driven by playwright-core (no browser is ever downloaded). openPage
// records console errors, page errors, failed requests and the WebSocket
// frames the page receives, so tests can assert on all of them.

import { mkdtemp, rm } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import assert from 'node:assert/strict'
import { chromium } from 'playwright-core'

export const CHROMIUM = process.env.PARLEY_CHROMIUM || '/usr/bin/chromium'
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'
]

// launch starts a persistent context in a fresh profile; close() removes it.
export async function launch () {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/deps.sh`)
  const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'parley-chromium-'))
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 60000
  })
  return {
    context,
    async close () {
      await context.close().catch(() => {})
      await rm(userDataDir, { recursive: true, force: true })
    }
  }
}

// openPage opens url in a new page and records what went wrong and every
// WebSocket frame received ({url, payload, at}) and sent (in sent).
export async function openPage (context, url, name = 'page') {
  const page = await context.newPage()
  const problems = []
  const frames = []
  const sent = []
  page.on('console', m => { if (m.type() === 'error') problems.push(`${name} console.error: ${m.text()} (at ${m.location().url || '?'})`) })
  page.on('pageerror', e => problems.push(`${name} page error: ${e.stack || e}`))
  page.on('requestfailed', r => problems.push(`${name} request failed: ${r.url()} ${r.failure() && r.failure().errorText}`))
  page.on('response', r => { if (r.status() >= 400) problems.push(`${name} HTTP ${r.status()} ${r.url()}`) })
  page.on('websocket', sock => {
    sock.on('framereceived', f => frames.push({ url: sock.url(), payload: f.payload, at: Date.now() }))
    sock.on('framesent', f => sent.push({ url: sock.url(), payload: f.payload, at: Date.now() }))
  })
  await page.goto(url)
  return { page, problems, frames, sent }
}
