// Client helpers for the end-to-end tests: the official phoenix Socket over
// either transport, and a raw `ws` connection that speaks V2 frames by hand.
// Every socket made through a Clients instance is recorded and torn down by
// closeAll(), so node --test can exit.

import { Socket, LongPoll } from 'phoenix'
import WebSocket from 'ws'
import { waitFor } from './server.mjs'

export const TRANSPORTS = {
  websocket: WebSocket,
  longpoll: LongPoll
}

let uniqueCounter = 0
// unique returns a string unique within this process run, for topics and payloads.
export function unique (prefix = 'u') {
  uniqueCounter++
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${uniqueCounter}`
}

function fmt (v) {
  if (v instanceof ArrayBuffer) return `ArrayBuffer(${v.byteLength})`
  try {
    return JSON.stringify(v, (k, x) => x instanceof ArrayBuffer ? `ArrayBuffer(${x.byteLength})` : x)
  } catch {
    return String(v)
  }
}

// Recorded is a phoenix Socket plus what happened to it.
export class Recorded {
  constructor (socket, name) {
    this.socket = socket
    this.name = name
    this.opens = 0
    this.closes = [] // close codes
    this.errors = []
    this.messages = [] // decoded frames {join_ref, ref, topic, event, payload}
    socket.onOpen(() => { this.opens++ })
    socket.onClose(e => { this.closes.push(e && e.code) })
    socket.onError(e => { this.errors.push(e) })
    socket.onMessage(m => { this.messages.push(m) })
  }

  // describe renders the recorded history for failure messages.
  describe () {
    const msgs = this.messages.map(m => `  [${fmt(m.join_ref)},${fmt(m.ref)},${fmt(m.topic)},${fmt(m.event)},${fmt(m.payload)}]`)
    const errs = this.errors.map(e => (e && (e.message || e.type)) || fmt(e))
    return `socket ${this.name}: opens=${this.opens} closes=${fmt(this.closes)} errors=${fmt(errs)} frames received:\n${msgs.join('\n')}`
  }

  async connected (timeoutMs = 10000) {
    await waitFor(() => this.socket.isConnected(), timeoutMs, `socket ${this.name} to connect`, () => this.describe())
  }
}

// A Clients owns the sockets of one test.
export class Clients {
  constructor (server) {
    this.server = server
    this.recorded = []
    this.raws = []
  }

  // socket makes (and connects, unless connect:false) a phoenix Socket over
  // the named transport ('websocket' or 'longpoll').
  socket (transportName, opts = {}, { connect = true, name } = {}) {
    const transport = TRANSPORTS[transportName]
    if (!transport) throw new Error(`unknown transport ${transportName}`)
    const socket = new Socket(`${this.server.wsBase}/socket`, { transport, timeout: 5000, ...opts })
    const rec = new Recorded(socket, name || `${transportName}#${this.recorded.length + 1}`)
    this.recorded.push(rec)
    if (connect) socket.connect()
    return rec
  }

  // raw opens a plain ws connection to the socket endpoint.
  async raw (query = {}) {
    const params = new URLSearchParams({ ...query, vsn: '2.0.0' })
    const raw = new RawClient(`${this.server.wsBase}/socket/websocket?${params}`)
    this.raws.push(raw)
    await raw.opened
    return raw
  }

  describe () {
    return [...this.recorded.map(r => r.describe()), ...this.raws.map(r => r.describe())].join('\n')
  }

  async closeAll () {
    await Promise.all(this.recorded.map(rec => new Promise(resolve => {
      try {
        rec.socket.disconnect(() => resolve())
      } catch {
        resolve()
      }
    })))
    for (const raw of this.raws) raw.terminate()
  }
}

// outcome resolves with {status, response} for a Push (join or push),
// including "timeout".
export function outcome (push) {
  return new Promise(resolve => {
    push
      .receive('ok', response => resolve({ status: 'ok', response }))
      .receive('error', response => resolve({ status: 'error', response }))
      .receive('timeout', () => resolve({ status: 'timeout', response: null }))
  })
}

// push sends event on channel and resolves with its {status, response}.
export function push (channel, event, payload = {}, timeoutMs) {
  return outcome(channel.push(event, payload, timeoutMs))
}

// Tracked tracks a channel's join outcomes (each rejoin included),
// events and close/error callbacks.
export class Tracked {
  constructor (rec, topic, params = {}, { events = [] } = {}) {
    this.rec = rec
    this.topic = topic
    this.channel = rec.socket.channel(topic, params)
    this.joinOks = []
    this.joinErrors = []
    this.closes = 0
    this.errors = []
    this.events = {}
    for (const ev of events) {
      this.events[ev] = []
      this.channel.on(ev, payload => this.events[ev].push(payload))
    }
    this.channel.onClose(() => { this.closes++ })
    this.channel.onError(reason => { this.errors.push(reason) })
  }

  // join sends the join and resolves with the first outcome.
  join () {
    this.joinPush = this.channel.join()
    const first = outcome(this.joinPush)
    this.joinPush.receive('ok', r => this.joinOks.push(r))
    this.joinPush.receive('error', r => this.joinErrors.push(r))
    return first
  }

  // joinOk joins and fails unless the join succeeds.
  async joinOk () {
    const res = await this.join()
    if (res.status !== 'ok') {
      throw new Error(`join ${this.topic} gave ${fmt(res)}\n${this.rec.describe()}`)
    }
    return res.response
  }

  got (ev) {
    return this.events[ev]
  }

  push (event, payload, timeoutMs) {
    return push(this.channel, event, payload, timeoutMs)
  }
}

// RawClient is a plain ws connection that records every frame it receives.
export class RawClient {
  constructor (url) {
    this.url = url
    this.frames = [] // parsed JSON frames, or {binary: Buffer} / {text: string} when unparsable
    this.closeInfo = null
    this.ws = new WebSocket(url, { maxPayload: 64 * 1024 * 1024 })
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve)
      this.ws.once('unexpected-response', (req, res) => reject(new Error(`unexpected HTTP ${res.statusCode} from ${url}`)))
      this.ws.once('error', reject)
    })
    this.opened.catch(() => {})
    this.ws.on('error', () => {})
    this.ws.on('message', (data, isBinary) => {
      if (isBinary) {
        this.frames.push({ binary: Buffer.from(data) })
        return
      }
      const text = data.toString('utf8')
      try {
        this.frames.push(JSON.parse(text))
      } catch {
        this.frames.push({ text })
      }
    })
    this.closed = new Promise(resolve => {
      this.ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() }
        resolve(this.closeInfo)
      })
    })
  }

  send (frame) {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  // frame waits for a frame matching pred and returns it.
  frame (pred, timeoutMs = 5000, what = 'a matching frame') {
    return waitFor(() => this.frames.find(pred), timeoutMs, what, () => this.describe())
  }

  // reply waits for the phx_reply with the given ref.
  reply (ref, timeoutMs = 5000) {
    return this.frame(f => Array.isArray(f) && f[1] === ref && f[3] === 'phx_reply', timeoutMs, `phx_reply with ref ${fmt(ref)}`)
  }

  async waitClosed (timeoutMs = 5000) {
    await waitFor(() => this.closeInfo, timeoutMs, 'the server to close the connection', () => this.describe())
    return this.closeInfo
  }

  describe () {
    const frames = this.frames.map(f => '  ' + (f.binary ? `binary ${f.binary.toString('hex')}` : fmt(f)))
    return `raw ${this.url} close=${fmt(this.closeInfo)} frames received:\n${frames.join('\n')}`
  }

  terminate () {
    try { this.ws.terminate() } catch {}
  }
}

export { fmt }
