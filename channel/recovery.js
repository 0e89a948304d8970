// Missed-message recovery for Parley channels, with the official phoenix
// client unmodified. A route registered with channel.WithHistory numbers its
// broadcasts (the frame's ref is "@<offset>") and puts the client's position
// in the join reply as "_recovery": {epoch, offset}. This helper remembers
// the newest position seen and sends it as join params on every rejoin (the
// phoenix client re-evaluates a params function on each join), so the server
// pushes what was missed, in order and exactly once, before newer messages.
//
//   import { recoverable } from "./recovery.js"
//   const channel = recoverable(socket, "room:lobby", {}, {
//     onRecover (recovered) { if (!recovered) refetchEverything() }
//   })
//   channel.on("message", show)
//   channel.join()
//
// onRecover(recovered, position) runs on every rejoin that sent a position,
// before the join's receive("ok") callbacks: recovered is false when the
// server no longer has everything since that position (history too short or
// expired, server restarted), and then the app should re-fetch its state.
// A position the server refuses ("invalid recovery position") is forgotten,
// so the client's next rejoin is a fresh join.

// recoverable returns socket.channel(topic, ...) with recovery: params is an
// object or a function returning one, as for socket.channel.
export function recoverable (socket, topic, params = {}, { onRecover } = {}) {
  let position = null // {epoch, offset}: everything up to offset was received
  const channel = socket.channel(topic, () => {
    const base = typeof params === 'function' ? params() : params
    if (!position) return { ...base }
    return { ...base, _recover: { epoch: position.epoch, offset: position.offset } }
  })
  const next = channel.onMessage.bind(channel)
  channel.onMessage = (event, payload, ref, joinRef) => {
    if (event === 'phx_reply') {
      if (ref === channel.joinRef() && payload) onJoinReply(payload)
    } else if (position && typeof ref === 'string' && ref[0] === '@') {
      const offset = Number(ref.slice(1))
      if (offset > position.offset) position.offset = offset
    }
    return next(event, payload, ref, joinRef)
  }
  function onJoinReply ({ status, response }) {
    if (status === 'ok' && response && response._recovery) {
      const { epoch, offset, recovered } = response._recovery
      position = { epoch, offset }
      if (recovered !== undefined && onRecover) onRecover(recovered, { ...position })
    } else if (status === 'error' && response && response.reason === 'invalid recovery position') {
      position = null
    }
  }
  return channel
}
