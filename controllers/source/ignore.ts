// .sourceignore matching (gitignore syntax). Patterns come from Flux's default excludes, every .sourceignore
// in the tree (scoped to its directory), then .spec.ignore; the last matching pattern decides.
export const defaultExcludes = `# VCS
.git/
.gitignore
.gitmodules
.gitattributes
# Common file extensions
*.jpg
*.jpeg
*.gif
*.png
*.wmv
*.flv
*.tar.gz
*.zip
# Common CI files
.github/
.circleci/
.travis.yml
.gitlab-ci.yml
appveyor.yml
.drone.yml
cloudbuild.yaml
codeship-services.yml
codeship-steps.yml
# Other
**/.goreleaser.yml
**/.sops.yaml
**/.flux.yaml
`;

export const sourceIgnoreFile = ".sourceignore";

export interface IgnorePattern {
  negate: boolean;
  dirOnly: boolean;
  regex: RegExp;
  source: string;
}

/** Parses gitignore text; `domain` is the directory (relative, "/"-separated, "" for root) it applies to. */
export function parsePatterns(text: string, domain = ""): IgnorePattern[] {
  const out: IgnorePattern[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.replace(/(?<!\\)\s+$/, "");
    if (!line || line.startsWith("#")) continue;
    let negate = false;
    if (line.startsWith("!")) {
      negate = true;
      line = line.slice(1);
    } else if (line.startsWith("\\!") || line.startsWith("\\#")) line = line.slice(1);
    let dirOnly = false;
    if (line.endsWith("/")) {
      dirOnly = true;
      line = line.replace(/\/+$/, "");
    }
    if (!line) continue;
    const anchored = line.includes("/");
    line = line.replace(/^\//, "");
    const prefix = domain ? escapeRegex(domain.replace(/\/$/, "")) + "/" : "";
    const body = globToRegex(line);
    const regex = new RegExp(`^${prefix}${anchored ? "" : "(?:.*/)?"}${body}$`);
    out.push({ negate, dirOnly, regex, source: raw });
  }
  return out;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function globToRegex(glob: string): string {
  const segments = glob.split("/");
  const parts: string[] = [];
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const last = i === segments.length - 1;
    if (seg === "**") {
      // "**/" matches zero or more directories; a trailing "/**" matches everything inside.
      parts.push(last ? ".*" : "(?:.*/)?");
      continue;
    }
    parts.push(segmentToRegex(seg) + (last ? "" : "/"));
  }
  return parts.join("");
}

function segmentToRegex(seg: string): string {
  let out = "";
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === "\\" && i + 1 < seg.length) out += escapeRegex(seg[++i]!);
    else if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else if (c === "[") {
      const end = seg.indexOf("]", i + 2);
      if (end < 0) {
        out += "\\[";
        continue;
      }
      let cls = seg.slice(i + 1, end);
      if (cls.startsWith("!")) cls = "^" + cls.slice(1);
      out += `[${cls.replace(/\\/g, "\\\\")}]`;
      i = end;
    } else out += escapeRegex(c);
  }
  return out;
}

export class IgnoreMatcher {
  constructor(private readonly patterns: IgnorePattern[] = []) {}

  /** A matcher with extra patterns appended (they take precedence). */
  with(more: IgnorePattern[]): IgnoreMatcher {
    return new IgnoreMatcher([...this.patterns, ...more]);
  }

  /** True when the relative "/"-separated path is excluded. Parent directories are checked by the caller's walk. */
  ignores(path: string, isDir: boolean): boolean {
    let ignored = false;
    for (const p of this.patterns) {
      if (p.dirOnly && !isDir) continue;
      if (p.regex.test(path)) ignored = !p.negate;
    }
    return ignored;
  }
}

export function defaultMatcher(): IgnoreMatcher {
  return new IgnoreMatcher(parsePatterns(defaultExcludes));
}
