// A small schema builder: one declaration yields both the TypeScript type (Infer<typeof S>) and the
// structural OpenAPI v3 schema the CRD carries, so API types and CRD manifests cannot drift apart.

/** The subset of apiextensions.k8s.io/v1 JSONSchemaProps Mooring uses. */
export interface JSONSchemaProps {
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  description?: string;
  format?: string;
  pattern?: string;
  enum?: (string | number)[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  items?: JSONSchemaProps;
  properties?: Record<string, JSONSchemaProps>;
  required?: string[];
  additionalProperties?: JSONSchemaProps;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-map-type"?: "atomic" | "granular";
}

/** A schema node; T is the TypeScript type of a value it accepts (phantom). */
export interface Schema<T> {
  readonly openAPI: JSONSchemaProps;
  readonly __type?: T;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

type Common = Pick<JSONSchemaProps, "description" | "default">;

const node = <T>(openAPI: JSONSchemaProps): Schema<T> => ({ openAPI });
const clean = (o: JSONSchemaProps): JSONSchemaProps => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as JSONSchemaProps;

export function string(o: Common & Pick<JSONSchemaProps, "pattern" | "format" | "minLength" | "maxLength"> = {}): Schema<string> {
  return node(clean({ type: "string", ...o }));
}

export function enumOf<const V extends string>(values: readonly V[], o: Common = {}): Schema<V> {
  return node(clean({ type: "string", enum: [...values], ...o }));
}

export function integer(o: Common & Pick<JSONSchemaProps, "minimum" | "maximum" | "format"> = {}): Schema<number> {
  return node(clean({ type: "integer", ...o }));
}

export function boolean(o: Common = {}): Schema<boolean> {
  return node(clean({ type: "boolean", ...o }));
}

export function array<T>(items: Schema<T>, o: Common & Pick<JSONSchemaProps, "minItems" | "x-kubernetes-list-type" | "x-kubernetes-list-map-keys"> = {}): Schema<T[]> {
  return node(clean({ type: "array", items: items.openAPI, ...o }));
}

export function map<T>(values: Schema<T>, o: Common = {}): Schema<Record<string, T>> {
  return node(clean({ type: "object", additionalProperties: values.openAPI, ...o }));
}

/** An object whose content the apiserver keeps as is (e.g. embedded metadata). */
export function unknownObject(o: Common = {}): Schema<Record<string, unknown>> {
  return node(clean({ type: "object", "x-kubernetes-preserve-unknown-fields": true, ...o }));
}

type Props = Record<string, Schema<unknown>>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type ObjectType<P extends Props, R extends keyof P> = Simplify<{ [K in R]: Infer<P[K]> } & { [K in Exclude<keyof P, R>]?: Infer<P[K]> }>;

/** An object with the given properties; keys listed in `required` are required, the rest optional. */
export function object<P extends Props, const R extends keyof P & string = never>(
  properties: P,
  o: Common & { required?: readonly R[]; mapType?: "atomic" | "granular" } = {},
): Schema<ObjectType<P, R>> {
  const props: Record<string, JSONSchemaProps> = {};
  for (const [k, v] of Object.entries(properties)) props[k] = v.openAPI;
  return node(
    clean({
      type: "object",
      description: o.description,
      default: o.default,
      properties: Object.keys(props).length ? props : undefined,
      required: o.required && o.required.length ? [...o.required] : undefined,
      "x-kubernetes-map-type": o.mapType,
    }),
  );
}
