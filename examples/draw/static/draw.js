import { Socket, Presence } from "/assets/phoenix/phoenix.mjs";

const board = new URLSearchParams(location.search).get("board") || "main";
const $ = (id) => document.getElementById(id);
const COLORS = ["#4b5fd6", "#d6336c", "#0a7d32", "#a15c00", "#6f42c1"];

function drawStroke(ctx, { points, color }) {
  const w = ctx.canvas.width, h = ctx.canvas.height;
  ctx.strokeStyle = color;
  ctx.lineWidth = 3;
  ctx.lineCap = "round";
  ctx.beginPath();
  points.forEach(([x, y], i) => (i ? ctx.lineTo(x * w, y * h) : ctx.moveTo(x * w, y * h)));
  ctx.stroke();
}

$("join-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const me = $("username").value.trim();
  if (!me) return;
  $("join-form").hidden = true;
  $("room").hidden = false;
  const canvas = $("board");
  const ctx = canvas.getContext("2d");
  const color = COLORS[[...me].reduce((a, c) => a + c.charCodeAt(0), 0) % COLORS.length];
  const socket = new Socket("/socket", { params: { username: me } });
  socket.onError(() => { $("reconnecting").hidden = false; });
  socket.onClose(() => { $("reconnecting").hidden = false; });
  socket.onOpen(() => { $("reconnecting").hidden = true; });
  socket.connect();
  const channel = socket.channel("draw:" + board, {});
  window.drawChannel = channel; // for the end-to-end tests
  window.drawn = 0;
  const presence = new Presence(channel);
  presence.onSync(() => {
    const ul = $("members");
    ul.replaceChildren();
    presence.list((name) => name).sort().forEach((name) => {
      const li = document.createElement("li");
      li.dataset.user = name;
      li.textContent = name;
      ul.append(li);
    });
  });
  const cursors = new Map();
  channel.on("stroke", (s) => { drawStroke(ctx, s); window.drawn++; });
  channel.on("cursor", ({ from, x, y }) => {
    let el = cursors.get(from);
    if (!el) {
      el = document.createElement("span");
      el.className = "cursor";
      el.dataset.user = from;
      el.textContent = from;
      $("wrap").append(el);
      cursors.set(from, el);
    }
    el.style.left = `${x * canvas.clientWidth}px`;
    el.style.top = `${y * canvas.clientHeight}px`;
  });
  channel.join()
    .receive("ok", ({ strokes }) => {
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      for (const s of strokes) drawStroke(ctx, s);
      window.drawn = strokes.length;
      $("status").textContent = `on board ${board} as ${me}`;
    })
    .receive("error", ({ reason }) => { $("status").textContent = "refused: " + reason; });

  const at = (ev) => {
    const r = canvas.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return [clamp((ev.clientX - r.left) / r.width), clamp((ev.clientY - r.top) / r.height)];
  };
  let line = null;
  let lastCursor = 0;
  canvas.addEventListener("pointerdown", (ev) => { line = [at(ev)]; canvas.setPointerCapture(ev.pointerId); });
  canvas.addEventListener("pointermove", (ev) => {
    const p = at(ev);
    if (Date.now() - lastCursor > 50) {
      lastCursor = Date.now();
      channel.push("cursor", { x: p[0], y: p[1] });
    }
    if (line && line.length < 500) line.push(p);
  });
  canvas.addEventListener("pointerup", () => {
    if (line && line.length >= 2) {
      channel.push("stroke", { points: line, color })
        .receive("error", ({ reason }) => { $("status").textContent = reason; });
    }
    line = null;
  });
});
