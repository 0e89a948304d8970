// Parley's bootstrap for pages rendered by parley/live: it starts the
// official phoenix_live_view client on the page's socket. Served by the
// Endpoint at /assets/parley/live.js, beside the npm packages' browser
// builds at /assets/phoenix/ and /assets/phoenix_live_view/.
//
// App scripts may register hooks on window.ParleyHooks before this runs
// (module scripts run in document order). Apps that bundle their own JS
// write their own few lines instead (README: "Bundling your own JS").
import { Socket } from "/assets/phoenix/phoenix.mjs";
import { LiveSocket } from "/assets/phoenix_live_view/phoenix_live_view.esm.js";

const meta = (name) => {
  const el = document.querySelector(`meta[name='${name}']`);
  return el ? el.getAttribute("content") : null;
};
const liveSocket = new LiveSocket(meta("parley-socket") || "/live", Socket, {
  params: { _csrf_token: meta("csrf-token") },
  hooks: window.ParleyHooks || {},
});
liveSocket.connect();
window.liveSocket = liveSocket;
