// mosquitto-go-auth's HTTP backend: user, superuser and ACL checks decided by gatepass, the token as user name.
import type { AclAction, AclDenial } from '../../core/acl.js';
import { topicNameProblem } from '../../core/topic.js';
import { type ConnectFailureReason, connackCode } from '../reasons.js';
import { authorize, type ConnectSuccess, type Verifier } from '../verify.js';

/**
 * An answer for go-auth, whose HTTP backend reads the status: 2xx allows, 4xx denies, 5xx is an error
 * (denied too, and logged as one). The body, `{ ok, error }`, also satisfies `http_response_mode json`.
 *
 * - 200: allowed.
 * - 400: the request is malformed (no `clientid`; an ACL check without `topic` or a known `acc`).
 * - 401: the token is refused (`reason` says why, for logs only).
 * - 403: the token is fine but may not do this (ACL), or a superuser check.
 * - 503: the keys or revocations behind the verifier are unavailable; worth retrying.
 *
 * @example
 * const answer = await goAuthAcl(verifier, { ...body, acc: Number(body.acc) });
 * return c.json({ ok: answer.ok, error: answer.ok ? '' : 'denied' }, answer.status);
 */
export type GoAuthAnswer =
  | { readonly ok: true; readonly status: 200; readonly session: ConnectSuccess }
  | { readonly ok: false; readonly status: 400 | 401 | 403 | 503; readonly reason: GoAuthDenial };

/**
 * Why go-auth was denied, for logs: a {@link ConnectFailureReason}, an {@link AclDenial}, `superuser`
 * (gatepass credentials never make a superuser), or `bad_request`.
 *
 * @example
 * const reason: GoAuthDenial = 'superuser';
 */
export type GoAuthDenial = ConnectFailureReason | AclDenial | 'superuser' | 'bad_request';

/**
 * What go-auth's HTTP backend sends for a user check (`http_getuser_uri`): the MQTT user name, which is the
 * token, and the MQTT client id (the password is not read: clients send any, as mosquitto requires one).
 *
 * @example
 * const check: GoAuthUserCheck = { username: token, clientid: 'sensor-17' };
 */
export interface GoAuthUserCheck {
  username?: string | undefined;
  clientid?: string | undefined;
}

/**
 * What an ACL check carries (`http_aclcheck_uri`): the user name (the token), the client id, the topic,
 * and `acc` as mosquitto defines it: 1 read (a message about to be delivered on `topic`), 2 write
 * (publish), 3 read and write, 4 subscribe (`topic` is the filter).
 *
 * @example
 * const check: GoAuthAclCheck = { username: token, topic: 'plant/line-3/temp', clientid: 'sensor-17', acc: 2 };
 */
export interface GoAuthAclCheck {
  username?: string | undefined;
  topic: string;
  clientid: string;
  acc: number;
}

/** mosquitto's MOSQ_ACL_* values. */
const ACC_READ = 1;
const ACC_WRITE = 2;
const ACC_SUBSCRIBE = 4;

const SHARE_PREFIX = '$share/';

/**
 * The user check, at CONNECT: the user name is the token, bound to the client id like every CONNECT the
 * verifier checks, so a valid token cannot connect under another device's client id. (go-auth's HTTP
 * backend sends the client id here; its JWT backend does not, which is why that backend is not supported.)
 *
 * @example
 * const answer = await goAuthUser(verifier, { username: body.username, clientid: body.clientid });
 * return c.json({ ok: answer.ok, error: answer.ok ? '' : 'denied' }, answer.status);
 */
export async function goAuthUser(verifier: Verifier, check: GoAuthUserCheck): Promise<GoAuthAnswer> {
  const { username, clientid } = check;
  if (typeof clientid !== 'string' || clientid === '') return BAD_REQUEST;
  const result = await verifier.verifyConnect({ clientId: clientid, password: username });
  return result.ok ? { ok: true, status: 200, session: result } : refusal(result.reason);
}

/**
 * The superuser check: always denied (403). A gatepass credential grants exactly its topic ACL.
 *
 * @example
 * const answer = goAuthSuperuser(); // { ok: false, status: 403, reason: 'superuser' }
 */
export function goAuthSuperuser(): GoAuthAnswer {
  return SUPERUSER;
}

/**
 * The ACL check: the token (the user name) must be valid and bound to `clientid`, and its ACL must allow
 * `acc` on `topic`.
 *
 * @example
 * const answer = await goAuthAcl(verifier, { username: token, topic: 'plant/commands/sensor-17', clientid: 'sensor-17', acc: 4 });
 * answer.status; // 200, or 403 when the ACL does not allow it
 */
export async function goAuthAcl(verifier: Verifier, check: GoAuthAclCheck): Promise<GoAuthAnswer> {
  const { username, topic, clientid, acc } = check;
  if (typeof topic !== 'string' || typeof clientid !== 'string' || clientid === '') return BAD_REQUEST;
  const actions = actionsFor(acc);
  if (actions === undefined) return BAD_REQUEST;
  const result = await verifier.verifyConnect({ clientId: clientid, password: username });
  if (!result.ok) return refusal(result.reason);
  for (const action of actions) {
    // A read is a message being delivered: `topic` is a topic name, decided as the filter equal to it.
    // `$share/` opens a shared subscription only in a SUBSCRIBE (acc 4), where the share name is dropped
    // and the rest decided; a delivered message never has such a name, and is not decided that way.
    if (action === 'read') {
      if (topicNameProblem(topic) !== null) return denied('invalid_topic');
      if (topic.startsWith(SHARE_PREFIX)) return denied('not_permitted');
    }
    const decision = authorize(result, action === 'read' ? 'subscribe' : action, topic);
    if (!decision.ok) return denied(decision.reason);
  }
  return { ok: true, status: 200, session: result };
}

function actionsFor(acc: number): readonly (AclAction | 'read')[] | undefined {
  switch (acc) {
    case ACC_READ:
      return ['read'];
    case ACC_WRITE:
      return ['publish'];
    case ACC_READ | ACC_WRITE:
      return ['read', 'publish'];
    case ACC_SUBSCRIBE:
      return ['subscribe'];
    default:
      return undefined;
  }
}

const BAD_REQUEST: GoAuthAnswer = Object.freeze({ ok: false, status: 400, reason: 'bad_request' });
const SUPERUSER: GoAuthAnswer = Object.freeze({ ok: false, status: 403, reason: 'superuser' });

function denied(reason: AclDenial): GoAuthAnswer {
  return { ok: false, status: 403, reason };
}

/** The verifier's one mapping decides what is the server's fault (retry) and what the client's. */
function refusal(reason: ConnectFailureReason): GoAuthAnswer {
  return { ok: false, status: connackCode(reason, 5) === 0x88 ? 503 : 401, reason };
}
