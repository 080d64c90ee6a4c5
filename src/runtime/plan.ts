import type { Backend, Frontend, HostPort, Model, Target } from "../spec/model.js";
import type { RuntimeRenderOptions } from "../render/index.js";

/** Where a running stack's pieces listen; the spec's own addresses unless remapped. */
export interface PortPlan {
  frontends: Record<string, HostPort>;
  /** Keyed by `backend/server`, stub servers only. */
  stubs: Record<string, HostPort>;
  nginxStatus: HostPort;
  haproxyStats: HostPort;
}

/** The model with the plan's addresses, so the rendered config runs as written: never an edit of rendered text. */
export function applyPortPlan(model: Model, plan: PortPlan): Model {
  const frontends: Frontend[] = model.frontends.map((f) => ({ ...f, bind: plan.frontends[f.name] ?? f.bind }));
  const backends: Backend[] = model.backends.map((b) => ({
    ...b,
    servers: b.servers.map((s) => (s.stub ? { ...s, address: plan.stubs[`${b.name}/${s.name}`] ?? s.address } : s)),
  }));
  return { ...model, frontends, backends };
}

export function runtimeRenderOptions(
  target: Target,
  plan: PortPlan,
  limits: { haproxyMaxconn: number; nginxWorkerConnections: number; nginxRlimitNofile: number },
): RuntimeRenderOptions {
  return {
    stamp: true,
    haproxyStats: target === "haproxy" ? plan.haproxyStats : null,
    haproxyGlobalMaxconn: limits.haproxyMaxconn,
    nginxStatusListen: target === "nginx" ? plan.nginxStatus : null,
    nginxWorkerConnections: limits.nginxWorkerConnections,
    nginxRlimitNofile: limits.nginxRlimitNofile,
  };
}

/** Frontend connection limits the machine cannot hold: one warning each. */
export function capacityWarnings(model: Model, haproxyMaxconn: number, fdLimit: number): string[] {
  const total = model.frontends.reduce((sum, f) => sum + (f.maxconn ?? 0), 0);
  if (total <= haproxyMaxconn) return [];
  return [
    `the frontends ask for ${total} connections in all, but with an open-file limit of ${fdLimit} HAProxy can hold about ${haproxyMaxconn} (two descriptors per proxied connection); global maxconn is set to ${haproxyMaxconn}`,
  ];
}
