// Runs @modelcontextprotocol/server-everything in streamableHttp mode, bound to
// 127.0.0.1 instead of every interface (its app.listen(PORT) names no host).
// Usage: PORT=NNNN node everything_loopback.mjs
import net from "node:net";

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const port = args[0];
  if ((typeof port === "number" || /^\d+$/.test(String(port))) && typeof args[1] !== "string") {
    args.splice(1, 0, "127.0.0.1");
  }
  return listen.apply(this, args);
};

await import("@modelcontextprotocol/server-everything/dist/transports/streamableHttp.js");
