// Builds apiextensions.k8s.io/v1 CustomResourceDefinitions from schema declarations.
import * as s from "./schema";
import type { ResourceRef } from "./meta";

export interface PrinterColumn {
  name: string;
  type: "string" | "date" | "integer" | "number" | "boolean";
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface KindDefinition<Spec, Status> {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  shortNames?: string[];
  categories?: string[];
  description: string;
  spec: s.Schema<Spec>;
  /** Absent for static objects (Flux's v1beta3 Alert and Provider have no status). */
  status?: s.Schema<Status>;
  printerColumns: PrinterColumn[];
}

export interface CustomResourceDefinition {
  apiVersion: "apiextensions.k8s.io/v1";
  kind: "CustomResourceDefinition";
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
}

export function defineKind<Spec, Status>(d: KindDefinition<Spec, Status>): KindDefinition<Spec, Status> & { resource: ResourceRef; apiVersion: string } {
  return { ...d, apiVersion: `${d.group}/${d.version}`, resource: { kind: d.kind, group: d.group, version: d.version, plural: d.plural, namespaced: true } };
}

export function crdFor(d: KindDefinition<unknown, unknown>, labels: Record<string, string> = {}): CustomResourceDefinition {
  const root = s.object({
    apiVersion: s.string({ description: "APIVersion defines the versioned schema of this representation of an object." }),
    kind: s.string({ description: "Kind is a string value representing the REST resource this object represents." }),
    metadata: s.object({}),
    spec: d.spec,
    ...(d.status ? { status: d.status } : {}),
  }, { description: d.description });
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${d.plural}.${d.group}`, labels: { "app.kubernetes.io/part-of": "mooring", ...labels } },
    spec: {
      group: d.group,
      names: {
        kind: d.kind,
        listKind: `${d.kind}List`,
        plural: d.plural,
        singular: d.singular,
        ...(d.shortNames ? { shortNames: d.shortNames } : {}),
        ...(d.categories ? { categories: d.categories } : {}),
      },
      scope: "Namespaced",
      versions: [
        {
          name: d.version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: root.openAPI },
          ...(d.status ? { subresources: { status: {} } } : {}),
          additionalPrinterColumns: d.printerColumns,
        },
      ],
    },
  };
}
