/**
 * Backend stubs: one small HTTP/1.1 + h2c server per backend server of a spec,
 * answering who served each request and counting what it served.
 */
export { startStub, type StartedStub, type StubAddress } from "./server.js";
export { startStubFleet, type StartedStubFleet, type StubFleetOptions } from "./fleet.js";
export { emptyStubCounts, sumStubCounts, stubKey, type StubCounts } from "./counts.js";
export { failsAt, type StubBehaviour, type StubOptions } from "./options.js";
