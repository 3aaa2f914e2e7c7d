// Preloaded into Portkey's gateway with `node --require` by run.sh. Its entry point
// (build/start-server.js) listens without a host, so on every interface, and has no host option:
// this binds any listen(port) that names no host to BIND_HOST (default 127.0.0.1) instead.
"use strict";
const net = require("net");
const host = process.env.BIND_HOST || "127.0.0.1";
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    if (args.length < 2 || typeof args[1] === "function") args.splice(1, 0, host);
    else if (args[1] === undefined || args[1] === null) args[1] = host;
  } else if (first && typeof first === "object" && first.port !== undefined && !first.host && !first.path) {
    args[0] = { ...first, host };
  }
  return listen.apply(this, args);
};
