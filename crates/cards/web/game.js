// The card game's browser module: what the engine's page (assets/web) imports from /game.js. It
// brings the card game's wire schema (wire.js) and a card table built from the newest snapshot
// (table.js reads it): the phase and its countdown, the piles (top card and count), the own
// hand, every player's public counts from the stats table, and a feed of plays, refusals and
// rounds. A card is played by picking it (click, or keys 1-8) and then a pile (click, or Q W E
// R); the next tick's command carries the play and every other tick's is idle. There is no
// prediction (players have no entity) and nothing waits for interpolation: a card table shows
// the newest state as it is. assets/web/README.md describes the interface this file implements.

import { PHASE_NAMES, Plays, cardLabel, fitsPile, isRed, readView, refusalText } from "./table.js";
import { PHASE, schema } from "./wire.js";

export { schema };

/** The page's text and the scoreboard's columns. */
export const page = Object.freeze({
  title: "tickwire cards",
  tagline: "A real-time card race on an authoritative server: empty your hand onto the piles first.",
  help: "Pick a card: click it or press 1-8 · Play it: click a pile or press Q W E R · Esc: put it back · Chat: Enter",
  stylesheets: ["/game.css"],
  scoreboard: {
    columns: [
      { label: "Player", value: (row) => row.name },
      { label: "Left", title: "Cards left: in hand and to draw", value: (row) => row.hand + row.draw },
      { label: "Played", title: "Cards played", value: (row) => row.played },
      { label: "Won", title: "Rounds won", value: (row) => row.rounds_won },
    ],
    compare: (a, b) => b.rounds_won - a.rounds_won || b.played - a.played || a.player - b.player,
  },
});

/** Keys for the piles, by pile index. */
const PILE_KEYS = ["KeyQ", "KeyW", "KeyE", "KeyR"];
const PILE_KEY_LABELS = ["Q", "W", "E", "R"];
/** Feed entries shown at most. */
const FEED_MAX = 8;

/**
 * Builds the card table inside `root` and returns the client the page drives. `page` is the
 * core's services: banner(text, bad), system(text), typing().
 */
export function mount(root, page) {
  const elements = {
    table: element("div", "cards-table"),
    phase: element("div", "cards-phase"),
    seats: element("ol", "cards-seats"),
    piles: element("div", "cards-piles"),
    handTitle: element("h2", "cards-hand-title"),
    hand: element("div", "cards-hand"),
    feed: element("ol", "cards-feed"),
  };
  elements.phase.setAttribute("aria-live", "polite");
  elements.seats.setAttribute("aria-label", "Players");
  elements.piles.setAttribute("aria-label", "Piles");
  elements.hand.setAttribute("aria-label", "Your hand");
  elements.feed.setAttribute("aria-label", "What happened");
  const middle = element("div", "cards-middle");
  middle.append(elements.piles, elements.feed);
  elements.table.append(elements.phase, elements.seats, middle, elements.handTitle, elements.hand);
  root.append(elements.table);

  const plays = new Plays();
  /** The feed, newest last: {kind, text}. */
  const feed = [];
  const heard = { roundsStarted: 0, roundsEnded: 0, roundsWon: 0, flips: 0, refusals: [] };
  /** The connection being played (null between connections). */
  let play = null;
  /** The table as last read from the view. */
  let table = null;
  /** Pile and hand-slot buttons, made once per Welcome and updated in place (a click between
   * snapshots must land on the same element). */
  let pileButtons = [];
  let slotButtons = [];
  let shownPhase = "";
  /** The round number of the connection that closed last (kept for a resume). */
  let lastRound = null;
  /** The stats table the seats show. */
  let shownScores = null;

  window.addEventListener("keydown", (event) => {
    if (play === null || play.spectator || page.typing()) return;
    if (event.target instanceof HTMLInputElement || event.ctrlKey || event.metaKey || event.altKey) return;
    const digit = /^(?:Digit|Numpad)([1-8])$/.exec(event.code);
    const pile = PILE_KEYS.indexOf(event.code);
    if (digit !== null) {
      pickSlot(Number(digit[1]) - 1);
    } else if (pile >= 0) {
      playOn(pile);
    } else if (event.code === "Escape") {
      plays.selected = null;
      update();
    } else {
      return;
    }
    event.preventDefault();
  });

  function pickSlot(slot) {
    const card = table?.hand[slot] ?? null;
    if (card === null) return;
    plays.select(card);
    update();
  }

  function playOn(pile) {
    if (table === null || pile >= table.piles.length) return;
    plays.choose(pile, table.hand);
    update();
  }

  /** Builds the pile and hand buttons for this connection's setup. */
  function build() {
    const { setup, spectator } = play;
    pileButtons = Array.from({ length: setup.piles }, (_, pile) => {
      const button = element("button", "cards-pile");
      button.type = "button";
      button.dataset.pile = String(pile);
      button.addEventListener("click", () => {
        if (play !== null && !play.spectator) playOn(pile);
      });
      return button;
    });
    elements.piles.replaceChildren(...pileButtons);
    // A spectator has no hand: no positions to show.
    slotButtons = Array.from({ length: spectator ? 0 : setup.hand_size }, (_, slot) => {
      const button = element("button", "cards-card");
      button.type = "button";
      button.dataset.slot = String(slot);
      button.addEventListener("click", () => pickSlot(slot));
      return button;
    });
    elements.hand.replaceChildren(...slotButtons);
    elements.hand.hidden = spectator;
    elements.handTitle.textContent = spectator ? "Watching: the players' hands are hidden" : "Your hand";
  }

  /** Everything but the countdown, from the newest view, stats and plays. */
  function update() {
    if (play === null) return;
    const now = performance.now();
    table = readView(play.replica.view(), play.setup);
    if (!play.spectator) plays.handleHand(table.hand, now);
    const selected = table.hand.find((card) => card !== null && card.id === plays.selected) ?? null;

    table.piles.forEach((pile, index) => {
      const button = pileButtons[index];
      if (changed(button, `${pile.rank}/${pile.suit}/${pile.count}`)) {
        const face = pile.rank === 0 ? cardFace(null, "empty") : cardFace(pile);
        const count = element("span", "cards-count");
        count.textContent = `${pile.count} card${pile.count === 1 ? "" : "s"}`;
        const parts = [face, count];
        if (!play.spectator) parts.push(keyHint(PILE_KEY_LABELS[index]));
        button.replaceChildren(...parts);
      }
      button.classList.toggle("fits", selected !== null && fitsPile(selected.rank, pile));
      button.disabled = play.spectator;
      const top = pile.rank === 0 ? "empty" : `${cardLabel(pile.rank, pile.suit)} on top`;
      button.title = `Pile ${index + 1}: ${top}`;
    });

    if (!play.spectator) {
      const playing = table.phase === PHASE.PLAYING;
      table.hand.forEach((card, slot) => {
        const button = slotButtons[slot];
        button.dataset.cardId = card === null ? "" : String(card.id);
        if (card === null) {
          if (changed(button, "")) button.replaceChildren(cardFace(null, ""));
          button.disabled = true;
          button.className = "cards-card empty";
          button.title = "";
          return;
        }
        const inFlight = !plays.available(card);
        if (changed(button, String(card.id))) button.replaceChildren(cardFace(card), keyHint(String(slot + 1)));
        button.disabled = inFlight;
        button.className = "cards-card";
        button.classList.toggle("selected", card.id === plays.selected);
        button.classList.toggle("in-flight", inFlight);
        button.classList.toggle("playable", playing && table.piles.some((pile) => fitsPile(card.rank, pile)));
        button.title = cardLabel(card.rank, card.suit);
      });
    }

    const scores = play.replica.scores();
    if (scores !== shownScores) renderSeats(scores);
    renderPhase(now);
  }

  /** Every player's public counts, from the stats table. */
  function renderSeats(scores) {
    shownScores = scores;
    elements.seats.replaceChildren(
      ...scores.map((row) => {
        const li = element("li", "cards-seat");
        const own = !play.spectator && row.player === play.player;
        li.classList.toggle("own", own);
        li.classList.toggle("sitting-out", !row.in_round);
        const name = element("span", "name");
        name.textContent = own ? `${row.name} (you)` : row.name;
        const counts = element("span", "counts");
        counts.textContent = `${row.hand} in hand · ${row.draw} to draw`;
        const more = element("span", "more");
        more.textContent = row.in_round ? `${row.played} played · ${row.rounds_won} won` : "dealt in next round";
        li.append(name, counts, more);
        return li;
      }),
    );
  }

  /** The phase line, with its countdown (called every frame too). */
  function renderPhase(now) {
    if (play === null || table === null) return;
    const seconds = secondsLeft(now);
    const round = play.round > 0 ? ` ${play.round}` : "";
    const ownRow = play.replica.scores().find((row) => row.player === play.player);
    let text;
    switch (table.phase) {
      case PHASE.WAITING:
        text = "Waiting for a second player…";
        break;
      case PHASE.COUNTDOWN:
        text = `Next round in ${seconds.toFixed(1)} s`;
        break;
      case PHASE.PLAYING:
        if (play.spectator) text = `Round${round} in play`;
        else if (ownRow?.in_round === false) text = `Round${round} is on: you are dealt in at the next one`;
        else text = `Round${round}: race your cards onto the piles!`;
        break;
      case PHASE.BREAK:
        text = `Round over · next countdown in ${seconds.toFixed(1)} s`;
        break;
      default:
        text = `Phase ${table.phase}`;
    }
    if (text !== shownPhase) {
      shownPhase = text;
      elements.phase.textContent = text;
      elements.phase.dataset.phase = PHASE_NAMES[table.phase] ?? "unknown";
    }
  }

  /** Seconds until the table's phase ends (countdown and break; 0 otherwise). */
  function secondsLeft(now) {
    if (table === null || (table.phase !== PHASE.COUNTDOWN && table.phase !== PHASE.BREAK)) return 0;
    const ticks = table.endsTick - play.timeline.serverTick(now);
    return Math.max(0, ticks / play.welcome.tick_rate);
  }

  function nameOf(player) {
    if (!play.spectator && player === play.player) return "You";
    return play.replica.scores().find((row) => row.player === player)?.name ?? `player ${player}`;
  }

  function addFeed(kind, text) {
    feed.push({ kind, text });
    while (feed.length > FEED_MAX) feed.shift();
    elements.feed.replaceChildren(
      ...feed.map((entry) => {
        const li = element("li", entry.kind);
        li.textContent = entry.text;
        return li;
      }),
    );
  }

  function handleEvent(event) {
    if (event.Played) {
      const { player, pile, rank, suit } = event.Played;
      const own = !play.spectator && player === play.player;
      if (own) plays.handleLanded();
      addFeed(own ? "played own" : "played", `${nameOf(player)}: ${cardLabel(rank, suit)} on pile ${pile + 1}`);
    } else if (event.Refused) {
      const refused = plays.handleRefused(event.Refused);
      const what = refused.rank === undefined ? "that card" : cardLabel(refused.rank, refused.suit);
      const text = refusalText(event.Refused.reason);
      heard.refusals.push({ ...event.Refused, text });
      while (heard.refusals.length > FEED_MAX) heard.refusals.shift();
      addFeed("refused", `Refused ${what} on pile ${event.Refused.pile + 1}: ${text}`);
    } else if (event.RoundStarted) {
      heard.roundsStarted += 1;
      play.round = event.RoundStarted.round;
      addFeed("round", `Round ${play.round}: cards dealt`);
    } else if (event.RoundEnded) {
      heard.roundsEnded += 1;
      const { winner } = event.RoundEnded;
      const ownWin = !play.spectator && winner === play.player;
      if (ownWin) heard.roundsWon += 1;
      let text = `${nameOf(winner)} won the round`;
      if (winner === 0) text = "Round over: players left, nobody won";
      else if (ownWin) text = "You won the round!";
      addFeed(ownWin ? "round won" : "round", text);
      page.banner(text);
    } else if (event === "Flipped") {
      heard.flips += 1;
      addFeed("flip", "Nobody could play: a fresh card on every pile");
    }
  }

  return {
    /** A connection was welcomed: `context` is the core's per-connection state. */
    start(context) {
      const resumed = context.welcome.resumed;
      // The round number is known from RoundStarted only; a resumed player keeps it.
      const round = resumed ? (lastRound ?? 0) : 0;
      play = { ...context, round };
      plays.reset();
      table = null;
      shownPhase = "";
      shownScores = null;
      if (!resumed) {
        feed.length = 0;
        elements.feed.replaceChildren();
      }
      build();
    },

    /** The connection closed; the page may start again after a resume. */
    stop() {
      lastRound = play?.round ?? null;
      play = null;
      plays.reset();
    },

    /** This tick's command: the play chosen since the last tick, if any; else idle. */
    sample(now) {
      const cmd = plays.sample(now);
      if (cmd.card !== 0) update();
      return cmd;
    },

    handleSnapshot() {
      update();
    },

    handleEvents(tick, events) {
      for (const event of events) handleEvent(event);
      update();
    },

    render(now) {
      renderPhase(now);
    },

    /** The card game's part of window.tickwire.state(). */
    testState(now) {
      const view = table;
      return {
        phase: view === null ? null : (PHASE_NAMES[view.phase] ?? `unknown ${view.phase}`),
        phaseEndsTick: view?.endsTick ?? 0,
        secondsLeft: view === null ? 0 : secondsLeft(now),
        round: play?.round ?? 0,
        piles: (view?.piles ?? []).map((pile) => ({
          ...pile,
          label: pile.rank === 0 ? null : cardLabel(pile.rank, pile.suit),
        })),
        hand: (view?.hand ?? [])
          .filter((card) => card !== null)
          .map((card) => ({
            id: card.id,
            slot: card.slot,
            rank: card.rank,
            suit: card.suit,
            label: cardLabel(card.rank, card.suit),
            inFlight: !plays.available(card),
            fits: view.piles.filter((pile) => fitsPile(card.rank, pile)).map((pile) => pile.slot),
          })),
        handShown: !elements.hand.hidden,
        handButtons: slotButtons.filter((button) => button.dataset.cardId !== "").length,
        selected: plays.selected,
        records: view === null ? { table: 0, piles: 0, hand: 0 } : { ...view.records },
        plays: { ...plays.counts },
        rounds: { started: heard.roundsStarted, ended: heard.roundsEnded, won: heard.roundsWon },
        flips: heard.flips,
        refusals: heard.refusals.map((refusal) => ({ ...refusal })),
        feed: feed.map((entry) => ({ ...entry })),
      };
    },
  };
}

function element(tag, className) {
  const node = document.createElement(tag);
  node.className = className;
  return node;
}

/** A card's face: its rank and suit (red or black), or a placeholder with `empty` text. */
function cardFace(card, empty = "") {
  const face = element("span", "face");
  if (card === null) {
    face.classList.add("blank");
    face.textContent = empty;
    return face;
  }
  face.classList.toggle("red", isRed(card.suit));
  face.textContent = cardLabel(card.rank, card.suit);
  return face;
}

/** Whether `node` shows something else than `key` (then it remembers `key`). */
function changed(node, key) {
  if (node.dataset.shown === key) return false;
  node.dataset.shown = key;
  return true;
}

function keyHint(label) {
  const hint = element("kbd", "key");
  hint.textContent = label;
  return hint;
}
