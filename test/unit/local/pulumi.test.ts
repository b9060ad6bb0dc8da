import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { pinnedResourcePlugins, pluginDir } from "../../../local/pulumi";
import { loadTools } from "../../../local/tools";

describe("pinned Pulumi resource plugins", () => {
  test("every pulumi-resource-<name> tool is a plugin named <name> at its build's version", () => {
    const tools = loadTools();
    const plugins = pinnedResourcePlugins(tools);
    assert.deepEqual(
      plugins.find((p) => p.name === "kubernetes"),
      { name: "kubernetes", tool: "pulumi-resource-kubernetes", version: tools.builds["pulumi-kubernetes"]!.version },
    );
    assert.ok(!plugins.some((p) => p.tool === "pulumi" || p.tool === "pulumi-language-nodejs"), plugins.map((p) => p.tool).join(", "));
  });

  test("a plugin lives where the engine's plugin cache looks for that exact version", () => {
    assert.equal(pluginDir("/s/home", { name: "kubernetes", tool: "pulumi-resource-kubernetes", version: "4.25.0" }), "/s/home/plugins/resource-kubernetes-v4.25.0");
  });
});
