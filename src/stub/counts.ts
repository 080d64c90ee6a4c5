/** What one stub served; plain data, so it crosses the fleet's IPC channel unchanged. */
export interface StubCounts {
  /** Counted responses written (health probes excluded). */
  served: number;
  /** Counted responses by status code. */
  byStatus: Record<string, number>;
  byProtocol: { h1: number; h2: number };
  /** Distinct proxy-to-stub connections that carried at least one counted request. */
  connections: number;
}

export function emptyStubCounts(): StubCounts {
  return { served: 0, byStatus: {}, byProtocol: { h1: 0, h2: 0 }, connections: 0 };
}

/** Sums any number of counts (e.g. every server of one backend) without touching the inputs. */
export function sumStubCounts(all: Iterable<StubCounts>): StubCounts {
  const total = emptyStubCounts();
  for (const c of all) {
    total.served += c.served;
    total.byProtocol.h1 += c.byProtocol.h1;
    total.byProtocol.h2 += c.byProtocol.h2;
    total.connections += c.connections;
    for (const [status, n] of Object.entries(c.byStatus)) {
      total.byStatus[status] = (total.byStatus[status] ?? 0) + n;
    }
  }
  return total;
}

/** The key a fleet reports counts under. */
export function stubKey(stub: { backend: string; server: string }): string {
  return `${stub.backend}/${stub.server}`;
}
