export type {
  BindMount,
  ContainerClient,
  ContainerSpec,
  ContainerState,
  ImageInfo,
  StartedContainer,
} from "./types.js";
export {
  createDockerClient,
  defaultProxyImage,
  engineMessage,
  isDockerodeMissing,
  DEFAULT_SOCKET_PATH,
  DOCKERD_FLAGS,
} from "./client.js";
export { demuxDockerLog, type DemuxedLog } from "./demux.js";
