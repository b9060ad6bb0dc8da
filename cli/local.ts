// `mooring local`: placeholder until the control plane lands.
export async function localCommand(_argv: string[]): Promise<number> {
  process.stderr.write("mooring local: not available yet\n");
  return 1;
}
