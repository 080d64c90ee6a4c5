/**
 * Which limit a scenario meets first, at what count, and the exact fix.
 * Pure: needs and facts in, a verdict out.
 */
import { proxyLimits } from "../runtime/limits.js";

/** What `proxyLimits` keeps aside of a proxy's descriptors for logs, listeners and the like. */
const RESERVED_FDS = 128;
import type { Target } from "../spec/model.js";
import type { MachineFacts } from "./facts.js";
import { acceptQueue, driverFixedFds, nginxPerWorker, peakConnections, SOURCE_PORT_FILL, type LimitId, type Need, type NeedsInput } from "./needs.js";

export type FixKind = "ulimit" | "sysctl" | "source-addresses" | "driver-processes" | "nginx-workers" | "haproxy-ceiling" | "connect-rate" | "server-maxconn" | "stub-sessions" | "memory";

export interface Fix {
  kind: FixKind;
  /** What to do, in one sentence; a command or spec line in it is exact. */
  text: string;
  /** The shell line, when the fix is one. */
  command: string | null;
}

export interface LimitVerdict extends Need {
  /** The scenario's connections are past it. */
  exceeded: boolean;
  /** Null for a limit the scenario is within. */
  fix: Fix | null;
}

export interface Verdict {
  /** null: `spillway load` at a URL, the driver and the kernel alone. */
  target: Target | null;
  connections: number;
  /** Every fatal limit holds the scenario's connections. */
  fits: boolean;
  /** The fatal limit with the lowest count, exceeded or not; null when none bounds the connections. */
  first: LimitVerdict | null;
  /** Every limit, those with the lowest count first; those that do not bound the connections last. */
  limits: LimitVerdict[];
}

const fmt = (n: number) => n.toLocaleString("en-US");

/** 127.0.0.1, 127.0.0.2, ...: every address in 127.0.0.0/8 is on the loopback interface. */
function loopbackList(count: number): string {
  const shown = Math.min(count, 3);
  const names = Array.from({ length: shown }, (_, i) => `127.0.0.${i + 1}`);
  return count > shown ? `[${names.join(", ")}, … 127.0.0.${count}]` : `[${names.join(", ")}]`;
}

/**
 * `ulimit -n X` when this shell may set it: up to the hard limit when that is
 * enough (`fitsAtHard`), beyond it up to fs.nr_open with CAP_SYS_RESOURCE.
 */
function raiseOpenFiles(fitsAtHard: boolean, wanted: number, facts: MachineFacts): Fix | null {
  const { soft, hard } = facts.openFiles;
  if (fitsAtHard && soft < hard) {
    return { kind: "ulimit", text: `raise the soft open-file limit in the shell that runs spillway: ulimit -n ${hard}`, command: `ulimit -n ${hard}` };
  }
  if (facts.canRaiseHardLimit === true && wanted <= (facts.nrOpen ?? 1_048_576)) {
    return { kind: "ulimit", text: `as root (CAP_SYS_RESOURCE), raise the open-file limit in the shell that runs spillway: ulimit -n ${wanted}`, command: `ulimit -n ${wanted}` };
  }
  return null;
}

function hardLimitWords(facts: MachineFacts): string {
  return `hard open-file limit ${fmt(facts.openFiles.hard)}${facts.canRaiseHardLimit === false ? ", not raisable here: no CAP_SYS_RESOURCE" : ""}`;
}

export function fixFor(need: Need, input: NeedsInput, facts: MachineFacts): Fix {
  const n = peakConnections(input.load);
  switch (need.id) {
    case "driver-open-files": {
      const raised = raiseOpenFiles(need.needs <= facts.openFiles.hard, need.needs, facts);
      if (raised) return raised;
      const perProcess = facts.openFiles.hard - driverFixedFds(1);
      const processes = Math.ceil(n / perProcess);
      return {
        kind: "driver-processes",
        text: `more driver processes: --processes ${processes}, at most ${fmt(perProcess)} connections each (${hardLimitWords(facts)}; worker threads share it), or leave --processes out and the driver picks them`,
        command: null,
      };
    }
    case "driver-ports": {
      const ports = facts.portRange!.count;
      const sources = Math.ceil(n / Math.floor(ports * SOURCE_PORT_FILL));
      const widen = n <= 65535 - 1024 + 1 ? `; or widen the range: sysctl -w net.ipv4.ip_local_port_range="1024 65535"` : "";
      if (input.load.sourceAddresses.length === 0) {
        return {
          kind: "source-addresses",
          text: `connect over IPv4 loopback (127.0.0.1), where the driver spreads the connections over ${sources} source addresses ${loopbackList(sources)} by itself: ::1 has no other loopback address, so its ${fmt(ports)} ports are all there is${widen}`,
          command: null,
        };
      }
      return {
        kind: "source-addresses",
        text: `more source addresses: load.source_addresses (--source-address) with ${sources} loopback addresses, ${loopbackList(sources)} (${fmt(ports)} ports each), or leave them out and the driver picks them${widen}`,
        command: null,
      };
    }
    case "haproxy-connections": {
      const ceiling = proxyLimits(facts.openFiles.hard).haproxyMaxconn;
      const raised = raiseOpenFiles(ceiling >= n, 2 * n + RESERVED_FDS, facts);
      if (raised) return raised;
      return {
        kind: "haproxy-ceiling",
        text: `HAProxy is one process: at most ${fmt(ceiling)} connections here (two descriptors each; ${hardLimitWords(facts)})`,
        command: null,
      };
    }
    case "nginx-worker-connections": {
      const perWorkerAtHard = nginxPerWorker(proxyLimits(facts.openFiles.hard).nginxWorkerConnections, input.listeners);
      const raised = raiseOpenFiles(perWorkerAtHard >= n, 2 * n + input.listeners + RESERVED_FDS, facts);
      if (raised) return raised;
      const workers = Math.ceil(n / Math.max(1, perWorkerAtHard));
      return {
        kind: "nginx-workers",
        text: `more nginx workers: worker_processes ${workers}, worker_connections ${proxyLimits(facts.openFiles.hard).nginxWorkerConnections} (${fmt(perWorkerAtHard)} connections per worker)`,
        command: null,
      };
    }
    case "file-max": {
      const command = `sysctl -w fs.file-max=${need.needs}`;
      return { kind: "sysctl", text: `raise the machine's open-file table: ${command}`, command };
    }
    case "conntrack": {
      const command = `sysctl -w net.netfilter.nf_conntrack_max=${need.needs}`;
      return { kind: "sysctl", text: `raise the connection-tracking table: ${command}`, command };
    }
    case "accept-queue": {
      const burst = need.needs;
      const queue = acceptQueue(input, facts);
      // Only when the proxy's own backlog holds the burst does a deeper somaxconn help.
      if (queue !== null && queue.backlog >= burst) {
        const command = `sysctl -w net.core.somaxconn=${burst}`;
        return { kind: "sysctl", text: `deepen the accept queue: ${command}`, command };
      }
      return { kind: "connect-rate", text: `open the connections in bursts the queue holds: load.connect_rate ${need.has} (one burst per connect_period)`, command: null };
    }
    case "memory":
      return {
        kind: "memory",
        text: `fewer connections per machine: at most ${fmt(need.holds ?? 0)} here by the measured figures; split the load with --shard i/N over more machines, or free memory`,
        command: null,
      };
    case "stub-open-files": {
      const raised = raiseOpenFiles(need.needs <= facts.openFiles.hard, need.needs, facts);
      if (raised) return raised;
      return {
        kind: "stub-sessions",
        text: `fewer WebSocket sessions in one scenario: at most ${fmt(Math.max(0, facts.openFiles.hard - (need.needs - (input.load.websockets?.connections ?? 0))))} here (the stubs are one process: ${hardLimitWords(facts)})`,
        command: null,
      };
    }
    case "upstream-ports":
      return {
        kind: "server-maxconn",
        text: `cap the servers' connections: backends.<backend>.maxconn at most ${fmt(facts.portRange!.count)} (HAProxy then queues requests instead of opening a connection for each)`,
        command: null,
      };
  }
}

const ORDER: LimitId[] = ["driver-open-files", "driver-ports", "haproxy-connections", "nginx-worker-connections", "stub-open-files", "file-max", "conntrack", "memory", "accept-queue", "upstream-ports"];

export function verdictFor(input: NeedsInput, needs: Need[], facts: MachineFacts): Verdict {
  const n = peakConnections(input.load);
  const limits: LimitVerdict[] = needs
    .map((need) => {
      const exceeded = need.holds !== null && need.holds < n;
      return { ...need, exceeded, fix: exceeded ? fixFor(need, input, facts) : null };
    })
    // Lowest count first; at the same count, the order a run meets them in (the driver's own first).
    .sort((a, b) => (a.holds ?? Infinity) - (b.holds ?? Infinity) || ORDER.indexOf(a.id) - ORDER.indexOf(b.id));
  const first = limits.find((l) => l.fatal && l.holds !== null) ?? null;
  return { target: input.target, connections: n, fits: !limits.some((l) => l.fatal && l.exceeded), first, limits };
}
