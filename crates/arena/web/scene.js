// The arena on a canvas: where others are shown (interpolated between the recent views around
// the render tick), the camera, and the drawing of the map, entities and tracers. The only
// arena module that draws; it never touches the wire.

import { FLAGS, KIND } from "./wire.js";
import { QUANT, aimFromWire } from "./tickwire.js";

const POS_UNITS = QUANT.POS_UNITS_PER_M;
/** Moving more than this many meters per tick between two views is a respawn or a teleport. */
const JUMP_M_PER_TICK = 3;

/**
 * Positions of the records shown at the render tick, from the core's Frames.sample(renderTick):
 * lerped between two views, or extrapolated along the velocity past the newest (at most
 * `maxAheadTicks`). An entity that jumped between two views is shown at one end, never slid
 * across the map. Returns [{state, x, y}] with x, y in position units; `state` is the record
 * nearer in time.
 */
export function interpolate(samples, maxAheadTicks) {
  return samples.map(({ from, to, t, span, ahead }) => {
    if (to === null) {
      const ticks = Math.min(ahead, maxAheadTicks);
      return { state: from, x: from.x + from.vx * ticks, y: from.y + from.vy * ticks };
    }
    const shown = t < 0.5 ? from : to;
    if (Math.hypot(to.x - from.x, to.y - from.y) > JUMP_M_PER_TICK * POS_UNITS * span) {
      return { state: shown, x: shown.x, y: shown.y };
    }
    return { state: shown, x: from.x + (to.x - from.x) * t, y: from.y + (to.y - from.y) * t };
  });
}

/** Canvas pixels (CSS) and world meters; world y grows upwards, the canvas draws it flipped. */
export class Camera {
  constructor() {
    this.scale = 10;
    this.originX = 0;
    this.originY = 0;
    this.width = 0;
    this.height = 0;
  }

  /** Canvas pixels (CSS) to world meters. */
  toWorld(x, y) {
    return { x: (x - this.originX) / this.scale, y: (this.originY - y) / this.scale };
  }

  /** World meters to canvas pixels (CSS). */
  toScreen(x, y) {
    return { x: this.originX + x * this.scale, y: this.originY - y * this.scale };
  }

  /** Shows the whole map when it fits at a readable scale, else follows `focus` (meters). */
  place(map, focus) {
    const margin = 20;
    const fit = Math.min((this.width - 2 * margin) / map.width, (this.height - 2 * margin) / map.height);
    if (fit >= 8) {
      this.scale = fit;
      this.originX = (this.width - map.width * fit) / 2;
      this.originY = this.height - (this.height - map.height * fit) / 2;
    } else {
      // A large map: about 50 m across the shorter side, centred on the player.
      this.scale = Math.max(4, Math.min(this.width, this.height) / 50);
      const center = focus ?? { x: map.width / 2, y: map.height / 2 };
      this.originX = this.width / 2 - center.x * this.scale;
      this.originY = this.height / 2 + center.y * this.scale;
    }
  }
}

/** The canvas and everything drawn on it. */
export class Scene {
  constructor(canvas) {
    this.canvas = canvas;
    this.context = canvas.getContext("2d");
    this.camera = new Camera();
  }

  /** Sizes the canvas to its box (in device pixels) and clears it. */
  begin() {
    const { canvas, context, camera } = this;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    camera.width = width;
    camera.height = height;
    context.fillStyle = "#0a0e12";
    context.fillRect(0, 0, width, height);
  }

  drawMap(map) {
    const { context, camera } = this;
    const topLeft = camera.toScreen(0, map.height);
    context.fillStyle = "#121a22";
    context.fillRect(topLeft.x, topLeft.y, map.width * camera.scale, map.height * camera.scale);
    // A 5 m grid, to make movement readable.
    context.strokeStyle = "rgba(255, 255, 255, 0.04)";
    context.lineWidth = 1;
    context.beginPath();
    for (let x = 5; x < map.width; x += 5) {
      const a = camera.toScreen(x, 0);
      const b = camera.toScreen(x, map.height);
      context.moveTo(a.x, a.y);
      context.lineTo(b.x, b.y);
    }
    for (let y = 5; y < map.height; y += 5) {
      const a = camera.toScreen(0, y);
      const b = camera.toScreen(map.width, y);
      context.moveTo(a.x, a.y);
      context.lineTo(b.x, b.y);
    }
    context.stroke();
    context.fillStyle = "#3b4a5c";
    context.strokeStyle = "#56687e";
    for (const [minX, minY, maxX, maxY] of map.walls) {
      const corner = camera.toScreen(minX, maxY);
      const width = (maxX - minX) * camera.scale;
      const height = (maxY - minY) * camera.scale;
      context.fillRect(corner.x, corner.y, width, height);
      context.strokeRect(corner.x + 0.5, corner.y + 0.5, width - 1, height - 1);
    }
    context.strokeStyle = "#56687e";
    context.lineWidth = 2;
    context.strokeRect(topLeft.x, topLeft.y, map.width * camera.scale, map.height * camera.scale);
  }

  /**
   * Draws one entity at `position` (meters). `own` marks the player's own; `aim` overrides the
   * record's aim (the own player aims where the mouse is now); `name` is drawn above players.
   */
  drawEntity(state, position, { own, aim, name, playerRadius }) {
    const { context, camera } = this;
    const screen = camera.toScreen(position.x, position.y);
    const alive = (state.flags & FLAGS.ALIVE) !== 0;
    if (state.kind === KIND.PROJECTILE) {
      context.fillStyle = "#ffd166";
      context.beginPath();
      context.arc(screen.x, screen.y, Math.max(2, 0.15 * camera.scale), 0, 2 * Math.PI);
      context.fill();
      return;
    }
    const radius = (state.kind === KIND.PLAYER ? playerRadius : 0.5) * camera.scale;
    context.globalAlpha = alive ? 1 : 0.25;
    if (state.kind === KIND.NPC) {
      context.fillStyle = "#9b7ede";
      context.beginPath();
      context.arc(screen.x, screen.y, radius, 0, 2 * Math.PI);
      context.fill();
      this.drawHealth(screen, radius, state.health, 50);
      context.globalAlpha = 1;
      return;
    }
    const angle = aim ?? aimFromWire(state.aim);
    context.strokeStyle = own ? "#b3e5fc" : "#ffab91";
    context.lineWidth = Math.max(2, radius * 0.3);
    context.beginPath();
    context.moveTo(screen.x, screen.y);
    context.lineTo(screen.x + Math.cos(angle) * radius * 1.7, screen.y - Math.sin(angle) * radius * 1.7);
    context.stroke();
    context.fillStyle = own ? "#4fc3f7" : "#ff7043";
    context.beginPath();
    context.arc(screen.x, screen.y, radius, 0, 2 * Math.PI);
    context.fill();
    if (own) {
      context.strokeStyle = "#ffffff";
      context.lineWidth = 2;
      context.beginPath();
      context.arc(screen.x, screen.y, radius + 3, 0, 2 * Math.PI);
      context.stroke();
    }
    if (alive) this.drawHealth(screen, radius, state.health, 100);
    if (name) {
      context.font = `${own ? "600 " : ""}12px system-ui, sans-serif`;
      context.textAlign = "center";
      context.textBaseline = "bottom";
      context.fillStyle = own ? "#e1f5fe" : "#eceff4";
      context.fillText(name, screen.x, screen.y - radius - 9);
    }
    context.globalAlpha = 1;
  }

  drawHealth(screen, radius, health, max) {
    const { context } = this;
    const width = Math.max(24, radius * 2.4);
    const fraction = Math.min(1, health / Math.max(max, health));
    const x = screen.x - width / 2;
    const y = screen.y - radius - 7;
    context.fillStyle = "rgba(0, 0, 0, 0.6)";
    context.fillRect(x, y, width, 4);
    context.fillStyle = fraction > 0.5 ? "#7bd88f" : fraction > 0.25 ? "#f5c451" : "#ff6b6b";
    context.fillRect(x, y, width * fraction, 4);
  }

  /** Hitscan tracers: {from, to (meters), own, hit, life (1 new .. 0 gone)}. */
  drawTracers(tracers) {
    const { context, camera } = this;
    for (const tracer of tracers) {
      const from = camera.toScreen(tracer.from.x, tracer.from.y);
      const to = camera.toScreen(tracer.to.x, tracer.to.y);
      context.strokeStyle = tracer.hit
        ? `rgba(255, 120, 100, ${tracer.life})`
        : `rgba(220, 240, 255, ${tracer.life * 0.8})`;
      context.lineWidth = tracer.own ? 2.5 : 1.5;
      context.beginPath();
      context.moveTo(from.x, from.y);
      context.lineTo(to.x, to.y);
      context.stroke();
    }
  }
}
