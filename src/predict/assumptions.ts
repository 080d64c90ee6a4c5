/**
 * What the model ignores or approximates, in plain words, for the input it
 * was given: every prediction carries these, so a gap to a measured run can
 * be read against them.
 */
import { DEFAULT_EDGE_CONNS, type SimulationResult } from "./simulate.js";
import type { PredictInput } from "./types.js";

const ms = (n: number): string => (n >= 1000 && n % 1000 === 0 ? `${n / 1000} s` : `${Math.round(n * 100) / 100} ms`);

export function assumptions(input: PredictInput, sim: SimulationResult): string[] {
  const { load, proxy, service } = input;
  const out: string[] = [];
  const streams = proxy.maxConcurrentStreams !== null ? Math.min(load.streams, proxy.maxConcurrentStreams) : load.streams;

  out.push(
    proxy.maxconn !== null
      ? `${proxy.counter} counts the connections ${proxy.target} has accepted on this frontend, idle keep-alive ones included; beyond maxconn ${proxy.maxconn} a connection waits in the kernel's accept queue, uncounted and unanswered, until one closes, however long that takes (the client's own timeout is not modelled).`
      : `${proxy.counter} counts every connection ${proxy.target} has accepted and not yet closed, idle keep-alive ones included, with no limit and no accept queue (up to worker_connections, which spillway sizes above the spec's limits).`,
  );
  if (proxy.otherConnections > 0) out.push(`The count includes ${proxy.otherConnections} ${proxy.otherConnectionsWhat ?? "connection(s) besides this load's."}`);
  out.push("A request is routed the moment it is sent, on the count at that moment: the proxy reads every request at once, however busy it is.");
  if (load.arrivals.kind !== "stages" && (load.arrivals.kind === "all-at-once" ? load.connections : load.arrivals.perPeriod) > 1) {
    out.push(
      `The proxy has counted every connection of a burst before it routes the first request on any of them, ${ms(service.connectMs)} after the burst starts. ` +
        "In measured runs HAProxy routed the first requests of a few connections (about 1% of a 40,000-request run) before it had accepted the whole burst, and a burst of 310 connections took 40-180 ms to open on a busy 2-core machine.",
    );
  }
  const full = proxy.whenFull === "queue" ? "wait in the backend's queue" : "are refused at once (and still take their turn in the queue)";
  const slots = input.backends.map((b) => `${b.name} ${b.slots ?? "unlimited"}`).join(", ");
  const own = input.backends.filter((b) => b.latencyMs !== null && b.latencyMs !== service.latencyMs);
  const latency = ms(service.latencyMs) + (own.length > 0 ? ` (${own.map((b) => `${b.name} ${ms(b.latencyMs!)}`).join(", ")})` : "");
  out.push(
    (service.capacityRps !== null
      ? `Every request takes its turn in one first-come first-served queue that completes ${Math.round(service.capacityRps)} requests/s (the client, the proxy and the stubs share the CPU), then ${latency} of stub latency`
      : `Every request is answered ${latency} after it is sent, however many are in flight`) +
      `; backends take servers x maxconn requests at once (${slots}) and the rest ${full}. Source: ${service.source}.`,
  );
  out.push(`A connection takes ${ms(service.connectMs)} from its start to its first request; closing takes no time.`);
  if (load.arrivalRate === null) {
    out.push(
      `Each of a connection's ${streams} streams sends its next request ${load.thinkTimeMs > 0 ? `${ms(load.thinkTimeMs)} after` : "as soon as"} its response arrives${load.thinkTimeMs > 0 ? "; a connection whose every stream is waiting is idle" : ""}.`,
    );
  } else {
    out.push(`Requests arrive at ${load.arrivalRate}/s and go to the next open connection with a free stream, round robin.`);
  }
  if (proxy.idleTimeoutMs !== null) {
    out.push(`${proxy.target} closes a connection once it has had no request in flight for ${ms(proxy.idleTimeoutMs)}; the client reconnects when a stream has work again.`);
  }
  if (proxy.closeAfterRequests !== null) out.push(`${proxy.target} closes a connection after ${proxy.closeAfterRequests} requests, once they are answered.`);
  if (load.closeAfterRequests !== null) out.push(`The client closes a connection after ${load.closeAfterRequests} requests, once they are answered, and opens another.`);
  if (load.closeAfterIdleMs !== null) out.push(`The client closes a connection idle for ${ms(load.closeAfterIdleMs)}, on its 100 ms sweep.`);
  if (load.budget === "per-client" && load.requests !== null) {
    out.push(
      "Every connection progresses at the same pace, so the end of the run is a tie: the model routes the last requests before the first finished connection closes. Measured runs lose that race now and then and send a few percent to the default backend at the end; far more when a round of requests takes seconds and the count sits near a rule's edge, as connections that drew quick answers from the default backend finish early (a quarter of one such HAProxy run).",
    );
  }
  out.push("No request fails, times out or is retried, other than refusals by a full backend.");
  for (const r of input.rules) {
    if (r.conns === null) out.push(`Rule ${r.name} (${r.condition}) depends on more than the connection count; the model never lets it match.`);
  }
  const edge = input.edgeConns ?? DEFAULT_EDGE_CONNS;
  const onEdge = sim.requests > 0 ? 1 - Object.values(sim.surely).reduce((a, n) => a + n, 0) / sim.requests : 0;
  if (onEdge >= 0.05) {
    out.push(
      `${Math.round(onEdge * 100)}% of the requests were routed within ${edge} connections of a rule's edge, where the order of a few closes and reconnects decides: measured runs scatter there, and the model, with no randomness, cannot say which way (see the bands).`,
    );
  }
  if (sim.truncated) out.push(`The simulation stopped at its bound of ${input.maxEvents ?? 5_000_000} events; the shares cover the part it simulated.`);
  return out;
}
