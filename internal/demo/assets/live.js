// Starts the phoenix_live_view client on pages rendered by parley/live.
// App scripts may register hooks on window.ParleyHooks before this runs.
import { Socket } from "/assets/phoenix/phoenix.mjs";
import { LiveSocket } from "/assets/phoenix_live_view/phoenix_live_view.esm.js";

const csrfToken = document.querySelector("meta[name='csrf-token']").getAttribute("content");
const liveSocket = new LiveSocket("/live", Socket, {
  params: { _csrf_token: csrfToken },
  hooks: window.ParleyHooks || {},
});
liveSocket.connect();
window.liveSocket = liveSocket;
