import { expect, it } from "vitest";
import { createDockerClient, defaultProxyImage, type ContainerClient } from "../../src/runtime/docker/index.js";

/** Whether a test file can use the Docker engine, and what it does when it cannot. */
export interface DockerUsability {
  client: ContainerClient;
  /** The proxies image the tests run (defaultProxyImage()). */
  image: string;
  /** Why the engine or the image cannot be used; null when both can. */
  unusable: string | null;
  /** SPILLWAY_REQUIRE_DOCKER=1: an unusable engine fails the tests instead of skipping them. */
  required: boolean;
  /** Skip the Docker tests: unusable and not required. */
  skip: boolean;
}

/**
 * Pings the engine and looks up the proxies image (never pulls). When they
 * cannot be used, the Docker tests are skipped, saying why on stderr, unless
 * SPILLWAY_REQUIRE_DOCKER=1, which makes them run and fail instead
 * (see `itRequiresDocker`).
 */
export async function dockerUsability(what: string, opts: { client?: ContainerClient; image?: string } = {}): Promise<DockerUsability> {
  const client = opts.client ?? createDockerClient();
  const image = opts.image ?? defaultProxyImage();
  const required = process.env["SPILLWAY_REQUIRE_DOCKER"] === "1";
  let unusable: string | null = null;
  try {
    await client.ping();
    await client.image(image);
  } catch (err) {
    unusable = err instanceof Error ? err.message : String(err);
  }
  const skip = unusable !== null && !required;
  if (skip) console.warn(`skipping ${what} (set SPILLWAY_REQUIRE_DOCKER=1 to fail instead): ${unusable}`);
  return { client, image, unusable, required, skip };
}

/** With SPILLWAY_REQUIRE_DOCKER=1, a test that fails, with the engine's words, when Docker cannot be used. */
export function itRequiresDocker(docker: DockerUsability): void {
  it.runIf(docker.required)("the docker engine is reachable with the proxies image present (SPILLWAY_REQUIRE_DOCKER=1)", () => {
    expect(docker.unusable).toBeNull();
  });
}
