// The engine's browser core, for the card game's modules. In the browser "./tickwire.js" is the
// core's own file (served at /tickwire.js next to /game.js; this file is never served); on disk
// this line points the same import at assets/web, so node runs the card game's tests unchanged.
export * from "../../../assets/web/tickwire.js";
