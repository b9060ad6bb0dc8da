// The provider modules by type. Adding a provider is one module with a send() and a line here.
import type { ProviderModule } from "./types";
import { generic, genericHmac } from "./generic";
import { slack } from "./slack";
import { discord } from "./discord";
import { rocket } from "./rocket";
import { msteams } from "./msteams";
import { googlechat } from "./googlechat";
import { telegram } from "./telegram";
import { alertmanager } from "./alertmanager";
import { grafana } from "./grafana";
import { pagerduty } from "./pagerduty";
import { github } from "./github";
import { gitlab } from "./gitlab";
import { gitea } from "./gitea";
import { bitbucketserver } from "./bitbucketserver";

export type { ProviderModule, ProviderConfig, Notification, Sender } from "./types";

export const providerModules: ReadonlyMap<string, ProviderModule> = new Map(
  [generic, genericHmac, slack, discord, rocket, msteams, googlechat, telegram, alertmanager, grafana, pagerduty, github, gitlab, gitea, bitbucketserver].map((m) => [m.type, m]),
);
