// The `mooring` resource provider plugin: the Bootstrap's resources as typed Pulumi resources
// (`mooring:index:GitFiles`, …) served over Pulumi's provider protocol from this package's own code. The engine
// starts it as `pulumi-resource-mooring` (bin/), found through the project's Pulumi.yaml `plugins.providers`
// path, the plugin cache or PATH. Each call goes to the implementation under provider/impl/.
import type * as pulumi from "@pulumi/pulumi";
import * as provider from "@pulumi/pulumi/provider";
import { packageVersion } from "./package";
import { resourceTypeNames, typeToken, type ResourceTypeName } from "./plugin-types";
import * as repository from "./impl/repository";
import * as deploykey from "./impl/deploykey";
import * as gitfiles from "./impl/gitfiles";
import * as install from "./impl/install";
import * as status from "./impl/status";

/** What each resource type does: the same five operations the implementations export. */
interface Implementation {
  create(inputs: unknown): Promise<{ id: string; outs: object }>;
  diff(olds: unknown, news: unknown): pulumi.dynamic.DiffResult | Promise<pulumi.dynamic.DiffResult>;
  update(olds: unknown, news: unknown): Promise<object>;
  read(id: string, props: unknown): Promise<{ id: string; props: object }>;
  remove(props: unknown): Promise<void>;
}

/** The resource types the plugin serves, by the token's last part (`mooring:index:<Name>`). */
export const resourceTypes: Record<ResourceTypeName, Implementation> = {
  GitHubRepository: repository,
  DeployKey: deploykey,
  GitFiles: gitfiles,
  ClusterInstall: install,
  SyncStatus: status,
};

/** Pulumi's marker of a secret value on the wire (a property value object with this key). */
const secretSig = "4dabf18193072939515e22adb298388d";

/**
 * Inputs as plain values: the engine sends secrets wrapped (the plugin accepts secrets); the implementations
 * take plain values. Their outputs stay secret through the resources' `additionalSecretOutputs` and the engine's
 * rule that an output named like a secret input is secret.
 */
export function unwrapSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value === null || typeof value !== "object") return value;
  const o = value as Record<string, unknown>;
  if (secretSig in o) return unwrapSecrets(o.value);
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, unwrapSecrets(v)]));
}

/** The implementation a URN's type names (`…::mooring:index:Bootstrap$mooring:index:GitFiles::name`). */
export function implementationFor(urn: string): Implementation {
  const parts = urn.split("::");
  const type = (parts[2] ?? "").split("$").pop() ?? "";
  const match = /^mooring:index:(\w+)$/.exec(type);
  const impl = match && Object.hasOwn(resourceTypes, match[1]!) ? resourceTypes[match[1] as ResourceTypeName] : undefined;
  if (!impl) throw new Error(`the mooring provider has no resource type ${JSON.stringify(type)} (it serves ${resourceTypeNames.map(typeToken).join(", ")})`);
  return impl;
}

/** The provider object Pulumi's provider server calls. */
export function mooringProvider(): pulumi.provider.Provider {
  return {
    version: packageVersion,
    async diff(_id, urn, olds, news) {
      const result = await implementationFor(urn).diff(unwrapSecrets(olds), unwrapSecrets(news));
      return { changes: result.changes, replaces: result.replaces, deleteBeforeReplace: result.deleteBeforeReplace };
    },
    async create(urn, inputs) {
      return implementationFor(urn).create(unwrapSecrets(inputs));
    },
    async read(id, urn, props) {
      const result = await implementationFor(urn).read(id, unwrapSecrets(props));
      return { id: result.id, props: result.props };
    },
    async update(_id, urn, olds, news) {
      return { outs: await implementationFor(urn).update(unwrapSecrets(olds), unwrapSecrets(news)) };
    },
    async delete(_id, urn, props) {
      await implementationFor(urn).remove(unwrapSecrets(props));
    },
  };
}

/** Serve the plugin: the engine passes its address; the port is printed on stdout as the protocol asks. */
export async function serve(args: string[]): Promise<void> {
  await provider.main(mooringProvider(), args);
}
