// The workspace the screens work on: "local" (the embedded default), "server:NAME" (a team
// server managed over its admin API) or an AWS workspace's name; and who the console is there.

import type { Role, ServerStatus } from "../bindings";

export const LOCAL = "local";
const SERVER = "server:";

export type WorkspaceKind = "local" | "server" | "aws";

export const workspace = $state<{
  current: string;
  /** The role on the current workspace: Local and AWS are the owner's, a server's is its token's. */
  role: Role;
  /** A server's last answer to "how are you" (version, latency); null elsewhere or when down. */
  status: ServerStatus | null;
  /** A server that stopped answering: the banner says so until it answers again. */
  unreachable: string | null;
}>({ current: LOCAL, role: "admin", status: null, unreachable: null });

export function kindOf(id: string): WorkspaceKind {
  if (id === LOCAL) return "local";
  return id.startsWith(SERVER) ? "server" : "aws";
}

export function serverId(name: string): string {
  return SERVER + name;
}

export function serverName(id: string): string | null {
  return id.startsWith(SERVER) ? id.slice(SERVER.length) : null;
}

/** What a role may do, as the server enforces it; the console hides the rest. */
export type Action = "manage" | "read_costs" | "playground" | "audit";

const allowed: Record<Role, Action[]> = {
  admin: ["manage", "read_costs", "playground", "audit"],
  viewer: ["read_costs"],
  tester: ["playground"],
};

export function can(action: Action, role: Role = workspace.role): boolean {
  return allowed[role].includes(action);
}
