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
import { webex } from "./webex";
import { lark } from "./lark";
import { matrix } from "./matrix";
import { opsgenie } from "./opsgenie";
import { datadog } from "./datadog";
import { githubdispatch } from "./githubdispatch";
import { bitbucket } from "./bitbucket";
import { azuredevops } from "./azuredevops";
import { sentry } from "./sentry";

export type { ProviderModule, ProviderConfig, Notification, Sender } from "./types";

export const providerModules: ReadonlyMap<string, ProviderModule> = new Map(
  [generic, genericHmac, slack, discord, rocket, msteams, googlechat, telegram, alertmanager, grafana, pagerduty, github, gitlab, gitea, bitbucketserver, webex, lark, matrix, opsgenie, datadog, githubdispatch, bitbucket, azuredevops, sentry].map((m) => [m.type, m]),
);
