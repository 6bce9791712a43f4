// The workspace the screens work on: "local" (the embedded default) or an AWS workspace's name.

export const LOCAL = "local";

export const workspace = $state({ current: LOCAL });

export function isLocal(): boolean {
  return workspace.current === LOCAL;
}
