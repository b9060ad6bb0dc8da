// The commit message template: Flux's template data rendered with the Go template subset.
import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { renderTemplate, TemplateError } from "../../../controllers/imageautomation/template";
import { defaultMessageTemplate, templateData } from "../../../controllers/imageautomation/update";

const result = {
  files: new Map([
    [
      "apps/deploy.yaml",
      [
        { object: { APIVersion: "apps/v1", Kind: "Deployment", Name: "app", Namespace: "prod" }, change: { OldValue: "app:1.2.3", NewValue: "app:1.2.4", Setter: "flux-system:app" } },
        { object: { APIVersion: "apps/v1", Kind: "Deployment", Name: "app", Namespace: "prod" }, change: { OldValue: "1.0", NewValue: "1.1", Setter: "flux-system:side:tag" } },
      ],
    ],
    ["b.yaml", [{ object: { APIVersion: "v1", Kind: "Pod", Name: "p", Namespace: "" }, change: { OldValue: "x:1", NewValue: "x:2", Setter: "flux-system:x" } }]],
  ]),
};
const data = templateData({ namespace: "flux-system", name: "auto" }, result, { env: "prod" });

describe("commit message template", () => {
  test(".Changed.Changes, .Changed.FileChanges, .Changed.Objects, .Values and .AutomationObject", () => {
    const tpl = `[{{ .Values.env }}] {{ .AutomationObject.Namespace }}/{{ .AutomationObject.Name }}
{{ range .Changed.Changes }}{{ .OldValue }}->{{ .NewValue }} ({{ .Setter }})
{{ end -}}
{{ range $file, $objects := .Changed.FileChanges -}}
file {{ $file }}:{{ range $obj, $changes := $objects }} {{ $obj.Kind }}/{{ $obj.Name }}={{ len $changes }}{{ end }}
{{ end -}}
{{ range $obj, $_ := .Changed.Objects }}{{ $obj }};{{ end }}
{{ if .Values.missing }}yes{{ else }}no{{ end }}`;
    assert.equal(
      renderTemplate(tpl, data),
      `[prod] flux-system/auto
app:1.2.3->app:1.2.4 (flux-system:app)
1.0->1.1 (flux-system:side:tag)
x:1->x:2 (flux-system:x)
file apps/deploy.yaml: Deployment/app=2
file b.yaml: Pod/p=1
Deployment/prod/app;Pod/p;
no`,
    );
  });

  test("the default message lists files and changes", () => {
    const text = renderTemplate(defaultMessageTemplate, data);
    assert.match(text, /^Update images by flux-system\/auto\n/);
    assert.match(text, /- apps\/deploy\.yaml\n- b\.yaml\n/);
    assert.match(text, /- Deployment app\n {2}app:1\.2\.3 -> app:1\.2\.4\n {2}1\.0 -> 1\.1\n/);
  });

  test("errors are clear", () => {
    assert.throws(() => renderTemplate("{{ range .Changed.Changes }}x", data), (e: Error) => e instanceof TemplateError && /missing \{\{end\}\}/.test(e.message));
    assert.throws(() => renderTemplate("{{ .Nope }}", data), (e: Error) => e instanceof TemplateError && /can't evaluate field Nope/.test(e.message));
    assert.throws(() => renderTemplate("{{ $x }}", data), /undefined variable \$x/);
  });
});
