// The chat room's ChatScroll hook, on an empty element beside the scroll
// container (#scroller) of the message stream: never on an ancestor of
// the stream, since a hook's pushEvent locks its element while in flight
// and a stream diff that reaches a locked ancestor is applied to a clone
// (without its limits). It opens the room at the newest message and keeps the
// view pinned to the bottom while messages arrive, unless the reader has
// scrolled up. It tells the view when the reader reaches or leaves the
// bottom (pushEvent "pinned"), so the view can count what the reader has
// not seen ("N new messages ↓"); the view's "chat:bottom" event scrolls
// back down (after sending a message, or the jump button). Loaded as a
// module before the live client (chat.Layout).

const SLACK = 8 // px from the bottom that still count as at the bottom

window.ParleyHooks = window.ParleyHooks || {}
window.ParleyHooks.ChatScroll = {
  mounted () {
    this.box = document.getElementById('scroller')
    this.list = document.getElementById('messages')
    this.pinned = true
    this.toBottom()
    this.onScroll = () => {
      const pinned = this.atBottom()
      if (pinned === this.pinned) return
      this.pinned = pinned
      this.tell()
    }
    this.box.addEventListener('scroll', this.onScroll, { passive: true })
    // New children while pinned at the present: follow them down.
    this.observer = new MutationObserver(() => {
      if (this.pinned && this.box.dataset.present === 'true') this.toBottom()
    })
    this.observer.observe(this.list, { childList: true })
    this.handleEvent('chat:bottom', () => {
      this.pinned = true
      this.toBottom()
      // After the diff of the same reply (the window may have been reset).
      requestAnimationFrame(() => this.toBottom())
    })
  },
  // A rejoin is a new mount on the server, pinned: say where we are.
  reconnected () {
    this.pinned = this.atBottom()
    this.tell()
  },
  destroyed () {
    this.box.removeEventListener('scroll', this.onScroll)
    if (this.observer) this.observer.disconnect()
  },
  atBottom () {
    return this.box.scrollHeight - this.box.scrollTop - this.box.clientHeight <= SLACK
  },
  toBottom () {
    this.box.scrollTop = this.box.scrollHeight
  },
  tell () {
    this.pushEvent('pinned', { pinned: this.pinned }).catch(() => {})
  }
}
