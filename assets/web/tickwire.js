// The browser core's toolkit for game modules, in one import: a game's files import
// "./tickwire.js", which in the browser is this file (the page serves the core and the game's
// files side by side at /). README.md describes what a game module is.

export * from "./bits.js";
export * from "./delta.js";
export * from "./predict.js";
export * from "./protocol.js";
export * from "./quant.js";
export * from "./replica.js";
export * from "./schedule.js";
export * from "./session.js";
export * from "./timeline.js";
