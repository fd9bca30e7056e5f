// Generic netlink framing over the netlink helpers (netlink.ts): nlmsghdr (type = the family's id) +
// genlmsghdr (command, version) + attributes, and resolving a family's id by name through the
// controller (CTRL_CMD_GETFAMILY to GENL_ID_CTRL). Constants come from the kernel headers through the
// generated layouts. Reference: include/uapi/linux/genetlink.h, Documentation/userspace-api/netlink/intro.rst.
import { constants } from 'node:os';
import { ENUMS, STRUCTS } from './layouts.generated.js';
import type { NetlinkSocket, NlAttr, NlMessage } from './netlink.js';
import { buildMessage, errorOf, parseAttrs } from './netlink.js';

const GENL_HDRLEN = (STRUCTS.genlmsghdr.size + 3) & ~3;
/** genlmsghdr.version of our controller requests (the controller accepts any; iproute2's genl uses 1). */
const CTRL_VERSION = 1;

function genlHeader(cmd: number, version: number): Buffer {
  const h = Buffer.alloc(STRUCTS.genlmsghdr.size);
  h.writeUInt8(cmd, STRUCTS.genlmsghdr.fields.cmd.offset);
  h.writeUInt8(version, STRUCTS.genlmsghdr.fields.version.offset);
  return h;
}

/** One generic netlink request to `family` (its id): command, family version, attributes. */
export function buildGenlMessage(family: number, cmd: number, version: number, seq: number, attrs: NlAttr[] = [], flags: number = ENUMS.NLM_F_REQUEST): Buffer {
  return buildMessage(family, flags, seq, genlHeader(cmd, version), attrs);
}

/** The command of a generic netlink message (its genlmsghdr), or undefined when too short. */
export function genlCommand(m: NlMessage): number | undefined {
  return m.payload.length >= GENL_HDRLEN ? m.payload.readUInt8(STRUCTS.genlmsghdr.fields.cmd.offset) : undefined;
}

/** The attributes of a generic netlink message (after its genlmsghdr). */
export function genlAttrs(m: NlMessage): Map<number, Buffer> {
  return parseAttrs(m.payload.subarray(GENL_HDRLEN));
}

/** CTRL_CMD_GETFAMILY for a family name (e.g. "TASKSTATS"). */
export function getFamilyRequest(name: string, seq: number): Buffer {
  return buildGenlMessage(ENUMS.GENL_ID_CTRL, ENUMS.CTRL_CMD_GETFAMILY, CTRL_VERSION, seq, [
    { type: ENUMS.CTRL_ATTR_FAMILY_NAME, data: Buffer.from(`${name}\0`, 'latin1') },
  ]);
}

/**
 * A family id from the controller's answer: the id, or the errno of its error (ENOENT: not registered;
 * EPROTO: an answer without a family id).
 */
export function parseFamilyReply(msgs: readonly NlMessage[]): { id: number } | { errno: number } {
  for (const m of msgs) {
    if (m.type === ENUMS.NLMSG_ERROR) {
      const errno = errorOf(m);
      if (errno !== 0) return { errno };
      continue;
    }
    if (m.type !== ENUMS.GENL_ID_CTRL || genlCommand(m) !== ENUMS.CTRL_CMD_NEWFAMILY) continue;
    const id = genlAttrs(m).get(ENUMS.CTRL_ATTR_FAMILY_ID);
    if (id && id.length >= 2) return { id: id.readUInt16LE(0) };
  }
  return { errno: constants.errno.EPROTO };
}

/** Resolves a generic netlink family's id over `sock` (a NETLINK_GENERIC socket). */
export function resolveFamily(sock: NetlinkSocket, name: string, timeoutMs = 1000): { id: number } | { errno: number } {
  return parseFamilyReply(sock.request(getFamilyRequest(name, sock.nextSeq()), timeoutMs));
}
