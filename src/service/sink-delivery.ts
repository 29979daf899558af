// Delivery to revocation sinks: each sink reads its log after its cursor (revocation_events to disconnect
// clients, audit_events for webhooks), delivers in order, advances the cursor on success and backs off on
// failure. The runtimes decide when it runs (src/runtime/); this module only delivers what is due.
import { auditActionsFor, retryDelayMs } from '../core/sinks.js';
import type { RevocationChange, RevocationSinkRecord } from '../store/port.js';
import type { BrokerChangeListener, ServiceDeps } from './deps.js';
import { unsealSinkSecret } from './revocation-sinks.js';
import {
  disconnectEmqxClient,
  disconnectRabbitMqClient,
  postWebhookEvent,
  type SinkCallContext,
  type SinkCallResult,
} from './sink-requests.js';

/** Changes read from a log at a time, and sinks listed at a time. */
const PAGE = 100;

export interface DeliveryCounts {
  /** Changes delivered (a cursor moved past them). */
  delivered: number;
  /** Sinks whose attempt failed this run. */
  failed: number;
}

/** One step of a sink's log: the cursor moves to `seq` once `deliver` succeeds. */
interface Step {
  seq: number;
  deliver(context: SinkCallContext): Promise<SinkCallResult>;
}

/**
 * The clients a revocation change disconnects. The kinds of revocation to come name theirs here: every client
 * of a `clientid` revocation, every client with a credential issued before an `issued_before` cutoff.
 */
function clientsToDisconnect(change: RevocationChange): string[] {
  // An un-revoke ends no session.
  if (!change.revoked) return [];
  switch (change.kind) {
    case 'jti':
      return change.clientId === null ? [] : [change.clientId];
    default: {
      // Every kind must be placed above: a new one fails to compile here.
      const unplaced: never = change.kind;
      throw new Error(`revocation kind ${String(unplaced)} disconnects no one`);
    }
  }
}

export interface SinkDeliveryOptions {
  /** [0, 1), for the backoff's jitter. */
  random?: () => number;
}

/**
 * Delivery is at least once: a crash between a delivery and its cursor's move, or two processes delivering
 * the same sink, repeat a change. Both kinds of receiver take a repeat as a no-op: disconnecting a client that
 * is gone succeeds, and a webhook message keeps its `webhook-id` across attempts, for receivers to skip what
 * they have seen. The cursor moves only forward, from the value this run read (a compare-and-set).
 */
export function createSinkDelivery(deps: ServiceDeps, { random = Math.random }: SinkDeliveryOptions = {}) {
  const { store, clock, log } = deps;
  // Workers reject a fetch called without its global as `this`; keep the call shape.
  const fetchFn = deps.fetch ?? ((input, init) => globalThis.fetch(input, init));
  let subscriber: (() => void) | undefined;
  let running: Promise<DeliveryCounts> | undefined;
  let again = false;

  function wake(): void {
    subscriber?.();
  }

  /** The sink's next steps after `cursor`, at most a page. */
  async function steps(sink: RevocationSinkRecord, cursor: number): Promise<Step[]> {
    if (sink.kind === 'webhook') {
      const events = await store.listBrokerAuditEvents(
        sink.brokerId,
        cursor,
        auditActionsFor(sink.settings.events),
        PAGE,
      );
      const settings = sink.settings;
      return events.map((event) => ({
        seq: event.seq,
        deliver: (context) => postWebhookEvent(context, { id: sink.id, settings }, event, clock()),
      }));
    }
    const disconnect = sink.kind === 'rabbitmq' ? disconnectRabbitMqClient : disconnectEmqxClient;
    const changes = await store.listRevocationChanges(sink.brokerId, cursor, PAGE);
    // Within a page a client is disconnected once, however many of its credentials the page revokes.
    const done = new Set<string>();
    return changes.map((change) => ({
      seq: change.seq,
      async deliver(context) {
        for (const clientId of clientsToDisconnect(change)) {
          if (done.has(clientId)) continue;
          const result = await disconnect(context, sink.settings, clientId);
          if (!result.ok) return result;
          done.add(clientId);
        }
        return { ok: true };
      },
    }));
  }

  /** Delivers the sink's changes after its cursor, page by page, until none is left or one fails. */
  async function deliverSink(sink: RevocationSinkRecord): Promise<DeliveryCounts> {
    // Unsealed once there is something to deliver: most runs find nothing.
    let context: SinkCallContext | undefined;
    let cursor = sink.cursor;
    let delivered = 0;
    for (;;) {
      const page = await steps(sink, cursor);
      if (page.length > 0) context ??= { fetch: fetchFn, secret: await unsealSinkSecret(deps, sink) };
      if (page.length === 0 && cursor === sink.cursor && sink.attempts > 0) {
        // The change that failed is gone (pruned, or no longer among a webhook's event types): nothing fails.
        await store.advanceRevocationSink(sink.id, cursor, cursor, clock());
      }
      let reached = cursor;
      let failure: string | undefined;
      for (const step of page) {
        const result = await step.deliver(context!);
        if (!result.ok) {
          failure = result.error;
          break;
        }
        reached = step.seq;
      }
      if (reached !== cursor) {
        // Another process moved it first (or the sink is gone): what follows is theirs to deliver.
        if (!(await store.advanceRevocationSink(sink.id, cursor, reached, clock())))
          return { delivered, failed: 0 };
        delivered += page.findIndex((step) => step.seq === reached) + 1;
        cursor = reached;
      }
      if (failure !== undefined) {
        // Failures count from the first at this change: a sink that delivered some of the page starts again.
        const attempts = reached === sink.cursor ? sink.attempts + 1 : 1;
        const now = clock();
        await store.recordRevocationSinkFailure(sink.id, cursor, {
          attempts,
          nextAttemptAt: now + retryDelayMs(attempts, random),
          error: failure,
          at: now,
        });
        log?.({
          level: 'warn',
          msg: 'revocation sink delivery failed',
          sink: sink.id,
          broker: sink.brokerId,
          kind: sink.kind,
          attempts,
          error: failure,
        });
        return { delivered, failed: 1 };
      }
      if (page.length < PAGE) return { delivered, failed: 0 };
    }
  }

  /** One pass over every due sink; sinks are delivered side by side, so a slow one holds up no other. */
  async function deliverDue(): Promise<DeliveryCounts> {
    const counts: DeliveryCounts = { delivered: 0, failed: 0 };
    let afterId = '';
    for (;;) {
      const due = await store.listDueRevocationSinks(clock(), afterId, PAGE);
      const results = await Promise.all(
        due.map((sink) =>
          deliverSink(sink).catch((error: unknown) => {
            // A sink that cannot even be read (a secret that will not unseal) must not stop the others.
            log?.({
              level: 'error',
              msg: 'revocation sink delivery error',
              sink: sink.id,
              error: String(error),
            });
            return { delivered: 0, failed: 1 };
          }),
        ),
      );
      for (const result of results) {
        counts.delivered += result.delivered;
        counts.failed += result.failed;
      }
      if (due.length < PAGE) return counts;
      afterId = due.at(-1)!.id;
    }
  }

  const listener: BrokerChangeListener = {
    brokerChanged: wake,
    namespaceDeleted: () => {},
    revocationsChanged: wake,
    credentialsIssued: wake,
  };

  return {
    /**
     * Delivers every sink's changes that are due (its backoff past), and resolves with what it did. One run at a
     * time in this process: a call during a run makes that run go round once more, and waits for it.
     */
    deliver(): Promise<DeliveryCounts> {
      if (running) {
        again = true;
        return running;
      }
      running = (async () => {
        const counts: DeliveryCounts = { delivered: 0, failed: 0 };
        do {
          again = false;
          const pass = await deliverDue();
          counts.delivered += pass.delivered;
          counts.failed += pass.failed;
        } while (again);
        return counts;
      })().finally(() => {
        running = undefined;
      });
      return running;
    },

    /**
     * `callback` is called after every change a sink may carry has been written (a revocation, an issue, a key
     * rotation); the runtime schedules a delivery from it. One subscriber: a later call replaces it.
     */
    onChange(callback: () => void): void {
      subscriber = callback;
    },

    /** A sink was created or changed: what it has waiting may be deliverable now. */
    sinkChanged: wake,

    /** Give it to the services that make changes (createServices does). */
    listener,
  };
}

export type SinkDelivery = ReturnType<typeof createSinkDelivery>;
