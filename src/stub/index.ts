/**
 * Backend stubs: one small HTTP/1.1 + h2c server per backend server of a spec,
 * answering who served each request and counting what it served; WebSocket
 * upgrades on the HTTP/1.1 side, with echo and rooms shared by every stub of
 * the process.
 */
export { startStub, type StartedStub, type StubAddress } from "./server.js";
export { startStubFleet, type StartedStubFleet, type StubFleetOptions } from "./fleet.js";
export { emptyStubCounts, emptyWsStubCounts, sumStubCounts, stubKey, type StubCounts, type WsRoomCounts, type WsStubCounts } from "./counts.js";
export { failsAt, type StubBehaviour, type StubOptions } from "./options.js";
