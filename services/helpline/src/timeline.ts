import { type Names, partitionOf, TelecareEvent } from '@telecare/contracts';
import { decodeJson, type JetStreamClient, type Logger } from '@telecare/platform';

/** At most this many EVENTS messages of the partition are read for one timeline. */
const MAX_SCAN = 20_000;
/** At most this many of the resident's events are returned (the newest). */
const MAX_EVENTS = 500;
const FETCH_EXPIRES_MS = 2_000;

export interface DeviceEvent {
  id: string;
  type: string;
  serial: string;
  deviceKind: string;
  at: string;
  receivedAt: string;
  location?: string;
  testMode: boolean;
  data: Record<string, unknown>;
}

export interface Timeline {
  residentId: string;
  from: string;
  to: string;
  events: DeviceEvent[];
  complete: boolean;
  scanned: number;
  message?: string;
}

/**
 * A resident's recent device events, read from EVENTS. Events are partitioned by resident, not
 * keyed by one, so this reads the resident's partition subject from a start time with an
 * ephemeral ordered consumer and keeps the resident's own events. The read is bounded: when the
 * partition holds more than MAX_SCAN messages in the window, the window is shortened to the
 * newest part (and says so) rather than showing the oldest hours.
 */
export class TimelineReader {
  constructor(
    private readonly js: JetStreamClient,
    private readonly names: Names,
    private readonly partitions: number,
    private readonly logger: Logger,
  ) {}

  async read(residentId: string, to: Date, hours: number): Promise<Timeline> {
    const subject = this.names.subjects.event(partitionOf(residentId, this.partitions), '>');
    let from = new Date(to.getTime() - hours * 3600_000);
    const base = { residentId, to: to.toISOString() };
    try {
      let consumer = await this.#consumer(subject, from);
      let pending = (await consumer.info()).num_pending;
      let complete = true;
      if (pending > MAX_SCAN) {
        // Assume an even rate over the window: start late enough to read about MAX_SCAN messages.
        const span = to.getTime() - from.getTime();
        from = new Date(to.getTime() - Math.floor((span * MAX_SCAN) / pending));
        await consumer.delete().catch(() => undefined);
        consumer = await this.#consumer(subject, from);
        pending = Math.min((await consumer.info()).num_pending, MAX_SCAN);
        complete = false;
      }
      const events: DeviceEvent[] = [];
      let scanned = 0;
      if (pending > 0) {
        const messages = await consumer.fetch({ max_messages: pending, expires: FETCH_EXPIRES_MS });
        for await (const msg of messages) {
          scanned += 1;
          const event = this.#parse(msg.data);
          if (event && event.residentid === residentId) {
            events.push({
              id: event.id,
              type: event.type,
              serial: event.subject,
              deviceKind: event.devicekind,
              at: event.time,
              receivedAt: event.receivedat,
              ...(event.location ? { location: event.location } : {}),
              testMode: event.testmode,
              data: event.data,
            });
            if (events.length > MAX_EVENTS) events.shift();
          }
          if (msg.info.pending === 0 || scanned >= pending) break;
        }
      }
      await consumer.delete().catch(() => undefined);
      return {
        ...base,
        from: from.toISOString(),
        events,
        complete,
        scanned,
        ...(complete ? {} : { message: `only the events since ${from.toISOString()} could be read` }),
      };
    } catch (err) {
      this.logger.warn({ err, residentId }, 'device events could not be read from EVENTS');
      return {
        ...base,
        from: from.toISOString(),
        events: [],
        complete: false,
        scanned: 0,
        message: 'the device events could not be read (EVENTS not reachable)',
      };
    }
  }

  #consumer(subject: string, from: Date) {
    return this.js.consumers.get(this.names.streams.events, {
      filter_subjects: subject,
      deliver_policy: 'by_start_time',
      opt_start_time: from.toISOString(),
    });
  }

  #parse(data: Uint8Array): TelecareEvent | undefined {
    const parsed = decodeJson(TelecareEvent, data);
    return parsed.ok ? parsed.value : undefined;
  }
}
