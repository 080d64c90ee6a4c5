import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LocalConfigChecker, detectVersion, explainPlaces } from "../src/check/index.js";
import { render } from "../src/render/index.js";
import { loadSpecFile } from "../src/spec/load.js";
import { ROOT } from "./helpers/cli.js";

const FIXTURES = readdirSync(join(ROOT, "fixtures")).filter((f) => f.endsWith(".yaml"));
const checker = new LocalConfigChecker();

describe("the real proxies accept every rendered fixture", async () => {
  const versions = {
    haproxy: (await detectVersion("haproxy"))?.version,
    nginx: (await detectVersion("nginx"))?.version,
  };
  it("finds both proxies installed (the README's commands install them)", () => {
    expect(versions.haproxy, "haproxy installed").toBeDefined();
    expect(versions.nginx, "nginx installed").toBeDefined();
  });

  describe.each(FIXTURES)("%s", (fixture) => {
    const { model } = loadSpecFile(join(ROOT, "fixtures", fixture));
    const out = render(model, { versions: { ...(versions.haproxy && { haproxy: versions.haproxy }), ...(versions.nginx && { nginx: versions.nginx }) } });
    it.each(["haproxy", "nginx"] as const)("%s accepts it", async (target) => {
      const result = await checker.check(target, out[target]);
      expect(result.output).not.toMatch(/\[ALERT\]|emerg/);
      expect(result.ok, result.output).toBe(true);
    });
  });
});

describe("a config the proxy rejects", () => {
  it("shows HAProxy's own words and the spec construct behind the failing line", async () => {
    const { model } = loadSpecFile(join(ROOT, "fixtures", "classic.yaml"));
    const broken = render(model).haproxy.replace("balance roundrobin", "balance nosuchmethod");
    const result = await checker.check("haproxy", broken);
    expect(result.ok).toBe(false);
    expect(result.output).toContain("balance only supports");
    expect(result.places[0]).toMatchObject({ text: "balance nosuchmethod", origin: "backends.ade (spec line 22)" });
  });

  it("shows nginx's own words and the spec construct behind the failing line", async () => {
    const { model } = loadSpecFile(join(ROOT, "fixtures", "classic.yaml"));
    const broken = render(model).nginx.replace("keepalive 64;", "keepalive sixty;");
    const result = await checker.check("nginx", broken);
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/invalid value "sixty"|invalid number/);
    expect(result.places[0]).toMatchObject({ text: "keepalive sixty;", origin: "backends.ade (spec line 22)" });
  });

  it("maps lines by the nearest origin comment", () => {
    const config = "global\n# from frontends.a (line 3)\nfrontend a\n    bad\n";
    expect(explainPlaces("haproxy", config, "parsing [haproxy.cfg:4] : unknown", "haproxy.cfg")).toEqual([
      { configLine: 4, text: "bad", origin: "frontends.a (spec line 3)" },
    ]);
  });
});
