// An h2c server that answers each request after a delay, so clients hold
// open connections with one stream in flight (used to compare memory per
// connection). Prints its port. Usage: node bench/hold-server.js HOLD_MS
import http2 from "node:http2";

const holdMs = Number(process.argv[2] ?? 5000);
const server = http2.createServer({ settings: { maxConcurrentStreams: 100 } });
server.on("stream", (stream) => {
  stream.on("error", () => {});
  const t = setTimeout(() => {
    if (stream.destroyed) return;
    stream.respond({ ":status": 200, "x-spillway-backend": "hold" });
    stream.end();
  }, holdMs);
  stream.on("close", () => clearTimeout(t));
});
server.on("sessionError", () => {});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
