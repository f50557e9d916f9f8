// The arena's browser module: what the engine's page (assets/web) imports from /game.js. It
// brings the arena's wire schema (wire.js), own-player prediction (movement.js), keyboard and
// mouse sampling, interpolation and drawing of everyone else (scene.js), tracers and the kill
// feed (which wait for the interpolated view to reach their tick), banners and the scoreboard
// columns. assets/web/README.md describes the interface this file implements.

import { arenaPrediction } from "./movement.js";
import { Scene, interpolate } from "./scene.js";
import { BUTTONS, FLAGS, KIND, schema } from "./wire.js";
import { EventQueue, QUANT, axisToWire, inputAimToWire, posFromWire } from "./tickwire.js";

export { schema };

/** Own-player prediction (the Predictor's rules), for a player with an avatar. */
export function prediction(welcome) {
  return arenaPrediction(welcome);
}

/** The page's text and the scoreboard's columns. */
export const page = Object.freeze({
  title: "tickwire arena",
  tagline: "A top-down arena on an authoritative server.",
  help: "Move: WASD or arrow keys · Aim: mouse · Fire: left click · Hitscan: right click or Shift · Chat: Enter",
  stylesheets: ["/game.css"],
  scoreboard: {
    columns: [
      { label: "Player", value: (row) => row.name },
      { label: "K", title: "Kills", value: (row) => row.kills },
      { label: "D", title: "Deaths", value: (row) => row.deaths },
    ],
    compare: (a, b) => b.kills - a.kills || a.deaths - b.deaths || a.player - b.player,
  },
});

/** How far past the newest snapshot others may be extrapolated, in seconds. */
const EXTRAPOLATE_MAX_S = 0.1;
/** Others' events held for the interpolated view at most (a hidden tab renders nothing). */
const PENDING_EVENTS_MAX = 256;
const FEED_MAX = 5;
const FEED_TTL_MS = 6000;
const TRACER_TTL_MS = 300;
/** A correction above this is a teleport (respawn), not something to smooth. */
const TELEPORT_M = 2;
const SMOOTHING_TIME_CONSTANT_MS = 35;

/**
 * Builds the arena's DOM (a canvas and the kill feed) inside `root` and returns the client the
 * page drives. `page` is the core's services: banner(text, bad), system(text), typing().
 */
export function mount(root, page) {
  const canvas = document.createElement("canvas");
  canvas.id = "view";
  canvas.setAttribute("aria-label", "The arena");
  const feedList = document.createElement("ol");
  feedList.className = "feed";
  feedList.setAttribute("aria-label", "Kill feed");
  root.append(canvas, feedList);
  const scene = new Scene(canvas);

  // Held keys and buttons; they live as long as the page, so a reconnect keeps what is held.
  const controls = { keys: new Set(), buttons: 0, shift: false, mouse: null };
  const feed = [];
  const tracers = [];
  /** Hitscan shots heard (Events Shot), in total and by our own entity. */
  const shots = { total: 0, own: 0 };
  /** The connection being played (null between connections). */
  let play = null;
  /** What was drawn last frame, for the test hook. */
  let drawn = [];
  let lastFrameAt = performance.now();

  window.addEventListener("keydown", (event) => {
    if (event.key === "Shift") controls.shift = true;
    if (page.typing()) return;
    const inForm = event.target instanceof HTMLInputElement;
    if (inForm) return;
    if (["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Space"].includes(event.code)) event.preventDefault();
    controls.keys.add(event.code);
  });
  window.addEventListener("keyup", (event) => {
    if (event.key === "Shift") controls.shift = false;
    controls.keys.delete(event.code);
  });
  window.addEventListener("blur", () => {
    controls.keys.clear();
    controls.buttons = 0;
    controls.shift = false;
  });
  canvas.addEventListener("mousemove", (event) => {
    const rect = canvas.getBoundingClientRect();
    controls.mouse = { x: event.clientX - rect.left, y: event.clientY - rect.top };
  });
  canvas.addEventListener("mousedown", (event) => {
    if (page.typing() && document.activeElement instanceof HTMLElement) document.activeElement.blur();
    if (event.button === 0) controls.buttons |= BUTTONS.FIRE;
    if (event.button === 2) controls.buttons |= BUTTONS.HITSCAN;
    event.preventDefault();
  });
  window.addEventListener("mouseup", (event) => {
    if (event.button === 0) controls.buttons &= ~BUTTONS.FIRE;
    if (event.button === 2) controls.buttons &= ~BUTTONS.HITSCAN;
  });
  canvas.addEventListener("contextmenu", (event) => event.preventDefault());

  /** Our own entity's drawn position in meters: prediction, sub-tick smoothed, plus the offset. */
  function ownDrawPosition(now) {
    const current = play?.predictor?.state() ?? null;
    if (current === null) return null;
    const from = play.previous ?? current;
    const t = Math.min(Math.max((now - play.predictedAt) / play.tickMs, 0), 1);
    return {
      x: from.pos.x + (current.pos.x - from.pos.x) * t + play.offset.x,
      y: from.pos.y + (current.pos.y - from.pos.y) * t + play.offset.y,
    };
  }

  function involvesUs(event) {
    const { entity, player } = play;
    if (event.Shot) return event.Shot.shooter === entity || event.Shot.hit === entity;
    if (event.Killed) return event.Killed.victim === entity || event.Killed.killer === player;
    return false;
  }

  function entityName(entity) {
    const name = play?.names.get(entity);
    if (name !== undefined) return name;
    if (play?.replica.entity(entity)?.kind === KIND.NPC) return "NPC";
    return `#${entity}`;
  }

  function showEvent(event, now) {
    if (event.Shot) {
      const shot = event.Shot;
      tracers.push({
        from: { x: posFromWire(shot.from_x), y: posFromWire(shot.from_y) },
        to: { x: posFromWire(shot.to_x), y: posFromWire(shot.to_y) },
        own: play !== null && shot.shooter === play.entity,
        hit: shot.hit !== 0,
        at: now,
      });
    } else if (event.Killed) {
      const { killer, victim } = event.Killed;
      const killerRow = play?.replica.scores().find((row) => row.player === killer);
      const killerName = killer === 0 ? null : (killerRow?.name ?? `player ${killer}`);
      const victimName = entityName(victim);
      feed.push({ killer: killerName, victim: victimName, at: now });
      while (feed.length > FEED_MAX) feed.shift();
      renderFeed();
      if (play !== null && !play.spectator) {
        if (victim === play.entity) {
          const byOther = killerName !== null && killer !== play.player;
          page.banner(byOther ? `${killerName} got you. Respawning…` : "You died. Respawning…");
        } else if (killer === play.player) {
          page.banner(`You got ${victimName}.`);
        }
      }
    }
  }

  function renderFeed() {
    feedList.replaceChildren(
      ...feed.map((entry) => {
        const li = document.createElement("li");
        const victim = document.createElement("span");
        victim.className = "victim";
        victim.textContent = entry.victim;
        if (entry.killer === null) {
          li.append(victim, " died");
        } else {
          const killer = document.createElement("span");
          killer.className = "killer";
          killer.textContent = entry.killer;
          li.append(killer, " ✕ ", victim);
        }
        return li;
      }),
    );
  }

  function drawPlay(now) {
    const map = play.setup.map;
    const own = ownDrawPosition(now);
    scene.camera.place(map, own);
    scene.drawMap(map);
    const renderTick = play.timeline.renderTick(now);
    for (const event of play.events.takeDue(renderTick)) showEvent(event, now);
    const shown = interpolate(play.frames.sample(renderTick), EXTRAPOLATE_MAX_S * play.welcome.tick_rate);
    // Projectiles under bodies, NPCs, other players, then us on top.
    const order = { [KIND.PROJECTILE]: 0, [KIND.NPC]: 1, [KIND.PLAYER]: 2 };
    shown.sort((a, b) => order[a.state.kind] - order[b.state.kind]);
    const list = [];
    const playerRadius = play.prediction.rules.player_radius;
    for (const { state, x, y } of shown) {
      if (state.id === play.entity && own !== null) continue;
      const position = { x: x / QUANT.POS_UNITS_PER_M, y: y / QUANT.POS_UNITS_PER_M };
      const name = play.names.get(state.id);
      scene.drawEntity(state, position, { own: false, name, playerRadius });
      list.push(describe(state, position, false));
    }
    const ownState = play.entity === 0 ? undefined : play.replica.entity(play.entity);
    if (ownState !== undefined && own !== null) {
      scene.drawEntity(ownState, own, { own: true, aim: play.aimAngle, name: play.name, playerRadius });
      list.push(describe(ownState, own, true));
    }
    while (tracers.length > 0 && now - tracers[0].at > TRACER_TTL_MS) tracers.shift();
    scene.drawTracers(tracers.map((tracer) => ({ ...tracer, life: 1 - (now - tracer.at) / TRACER_TTL_MS })));
    drawn = list;
  }

  function describe(state, position, own) {
    const screen = scene.camera.toScreen(position.x, position.y);
    return {
      id: state.id,
      kind: state.kind === KIND.PLAYER ? "player" : state.kind === KIND.NPC ? "npc" : "projectile",
      x: position.x,
      y: position.y,
      health: state.health,
      alive: (state.flags & FLAGS.ALIVE) !== 0,
      name: own ? play.name : (play.names.get(state.id) ?? null),
      own,
      // Where it was drawn, in CSS pixels from the canvas's top-left corner.
      screen: { x: Math.round(screen.x), y: Math.round(screen.y) },
    };
  }

  return {
    /** A connection was welcomed: `context` is the core's per-connection state. */
    start(context) {
      const { welcome } = context;
      play = {
        ...context,
        tickMs: 1000 / welcome.tick_rate,
        // The map and rules for drawing; a spectator has no predictor but draws players too.
        prediction: context.predictor?.prediction ?? arenaPrediction(welcome),
        names: new Map(),
        scores: null,
        // Others' events waiting for the interpolated view to reach their tick.
        events: new EventQueue(PENDING_EVENTS_MAX),
        // Drawing the own player: the predicted state one tick before (drawn in between), when
        // the newest step was predicted, the visual offset that hides a correction, and whether
        // the server alone decided the own entity at the last snapshot.
        previous: null,
        predictedAt: 0,
        offset: { x: 0, y: 0 },
        following: false,
        aimAngle: 0,
      };
    },

    /** The connection closed; the page may start again after a resume. */
    stop() {
      play = null;
    },

    /** This tick's command: WASD or arrows to move, the mouse to aim, buttons and Shift to fire. */
    sample(now) {
      const typing = page.typing();
      const held = (...codes) => !typing && codes.some((code) => controls.keys.has(code));
      // World y grows upwards (north); the canvas draws it flipped.
      const moveX = (held("KeyD", "ArrowRight") ? 1 : 0) - (held("KeyA", "ArrowLeft") ? 1 : 0);
      const moveY = (held("KeyW", "ArrowUp") ? 1 : 0) - (held("KeyS", "ArrowDown") ? 1 : 0);
      const own = ownDrawPosition(now);
      if (controls.mouse !== null && own !== null) {
        const target = scene.camera.toWorld(controls.mouse.x, controls.mouse.y);
        if (target.x !== own.x || target.y !== own.y) play.aimAngle = Math.atan2(target.y - own.y, target.x - own.x);
      }
      let buttons = controls.buttons;
      if (controls.shift && !typing) buttons |= BUTTONS.HITSCAN;
      return {
        move_x: axisToWire(moveX),
        move_y: axisToWire(moveY),
        aim: inputAimToWire(play.aimAngle),
        buttons,
        view_age: 0, // the core sets it per message (schema.input.withViewAge)
      };
    },

    /** The predictor moved the own state: a step of a new command, or a reconciliation. */
    handlePredicted({ before, after, reconciled, following, now }) {
      if (!reconciled) {
        if (before !== null && after !== before) {
          play.previous = before;
          play.predictedAt = now;
        }
        return;
      }
      const wasFollowing = play.following;
      play.following = following;
      if (before !== null && !following && !wasFollowing) {
        // Keep drawing where we were and let the offset decay: no visible snap.
        const errorX = before.pos.x - after.pos.x;
        const errorY = before.pos.y - after.pos.y;
        const error = Math.hypot(errorX, errorY);
        if (error >= TELEPORT_M) {
          play.offset = { x: 0, y: 0 };
        } else if (error > 0) {
          play.offset.x += errorX;
          play.offset.y += errorY;
        }
        if (play.previous !== null) {
          const { pos, vel } = play.previous;
          play.previous = { pos: { x: pos.x - errorX, y: pos.y - errorY }, vel };
        }
      } else {
        play.offset = { x: 0, y: 0 };
        play.previous = after;
      }
    },

    handleSnapshot() {
      const scores = play.replica.scores();
      if (scores !== play.scores) {
        play.scores = scores;
        play.names = new Map(scores.map((row) => [row.entity, row.name]));
      }
    },

    /**
     * A tick's events. Our own shots and deaths show at once (we are drawn in the present);
     * everyone else's wait for the interpolated view to reach the tick they happened in.
     */
    handleEvents(tick, events, now) {
      for (const event of events) {
        if (event.Shot) {
          shots.total += 1;
          if (event.Shot.shooter === play.entity) shots.own += 1;
        }
        if (!play.spectator && involvesUs(event)) showEvent(event, now);
        else play.events.push(tick, event);
      }
    },

    render(now) {
      const elapsed = Math.min(now - lastFrameAt, 250);
      lastFrameAt = now;
      scene.begin();
      if (play !== null) {
        const decay = Math.exp(-elapsed / SMOOTHING_TIME_CONSTANT_MS);
        play.offset.x *= decay;
        play.offset.y *= decay;
        if (Math.hypot(play.offset.x, play.offset.y) < 1e-4) play.offset = { x: 0, y: 0 };
        drawPlay(now);
      } else {
        drawn = [];
      }
      if (feed.length > 0 && now - feed[0].at > FEED_TTL_MS) {
        while (feed.length > 0 && now - feed[0].at > FEED_TTL_MS) feed.shift();
        renderFeed();
      }
    },

    /** The arena's part of window.tickwire.state(). */
    testState(now) {
      const own = play !== null ? ownDrawPosition(now) : null;
      const predicted = play?.predictor?.state() ?? null;
      const map = play?.setup.map ?? null;
      return {
        map: map ? { width: map.width, height: map.height, walls: map.walls.length } : null,
        ownPosition: own,
        predictedPosition: predicted ? { ...predicted.pos } : null,
        entities: drawn.map((entity) => ({ ...entity, screen: { ...entity.screen } })),
        feed: feed.map((entry) => ({ killer: entry.killer, victim: entry.victim })),
        shots: { ...shots },
        tracers: tracers.length,
      };
    },
  };
}
