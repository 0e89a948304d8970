// Reading ghosts: the ReadingGhost hook pushes this reader's position in
// the page, a fraction 0–1 of the scrollable height rounded to 0.001, to
// the blog post view with pushEvent("scroll", {pos}), at most once per
// PERIOD ms and only when it changed. Loaded as a module before the live
// client (blog.Layout), which reads window.ParleyHooks when it starts.

const PERIOD = 200

function position () {
  const range = document.documentElement.scrollHeight - window.innerHeight
  if (range <= 0) return 0
  const f = Math.round((window.scrollY / range) * 1000) / 1000
  return Math.min(1, Math.max(0, f))
}

window.ParleyHooks = window.ParleyHooks || {}
window.ParleyHooks.ReadingGhost = {
  mounted () {
    this.sent = null
    this.timer = null
    // Trailing throttle: the first scroll of a burst schedules one send,
    // which reads the position at that time.
    this.onScroll = () => {
      if (this.timer === null) this.timer = setTimeout(() => this.flush(), PERIOD)
    }
    window.addEventListener('scroll', this.onScroll, { passive: true })
    window.addEventListener('resize', this.onScroll, { passive: true })
    this.flush()
  },
  // A rejoin is a new mount on the server, at position 0: tell it again.
  reconnected () {
    this.sent = null
    this.flush()
  },
  destroyed () {
    window.removeEventListener('scroll', this.onScroll)
    window.removeEventListener('resize', this.onScroll)
    clearTimeout(this.timer)
    this.timer = null
  },
  flush () {
    this.timer = null
    const pos = position()
    if (pos === this.sent) return
    this.sent = pos
    // Rejected while disconnected: forget what was sent, reconnected()
    // sends the position again.
    this.pushEvent('scroll', { pos }).catch(() => { this.sent = null })
  }
}
