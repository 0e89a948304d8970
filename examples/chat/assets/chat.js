// The chat room's ChatScroll hook, on the scroll container around the
// message stream. It opens the room at the newest message and keeps the
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
    this.list = this.el.querySelector('#messages')
    this.pinned = true
    this.toBottom()
    this.onScroll = () => {
      const pinned = this.atBottom()
      if (pinned === this.pinned) return
      this.pinned = pinned
      this.tell()
    }
    this.el.addEventListener('scroll', this.onScroll, { passive: true })
    // New children while pinned at the present: follow them down.
    this.observer = new MutationObserver(() => {
      if (this.pinned && this.el.dataset.present === 'true') this.toBottom()
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
    this.el.removeEventListener('scroll', this.onScroll)
    if (this.observer) this.observer.disconnect()
  },
  atBottom () {
    return this.el.scrollHeight - this.el.scrollTop - this.el.clientHeight <= SLACK
  },
  toBottom () {
    this.el.scrollTop = this.el.scrollHeight
  },
  tell () {
    this.pushEvent('pinned', { pinned: this.pinned }).catch(() => {})
  }
}
