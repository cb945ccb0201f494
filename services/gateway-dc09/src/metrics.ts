import { Counter, createStoreMetrics, Gauge, type Registry, type StoreMetrics } from '@telecare/platform';

export interface Dc09Metrics extends StoreMetrics {
  readonly replies: Counter<'reply' | 'transport'>;
  readonly unanswered: Counter<'stage'>;
  readonly connections: Gauge;
  readonly refusedConnections: Counter<'reason'>;
  readonly closedConnections: Counter<'reason'>;
  readonly outputPaused: Counter;
  readonly silenced: Counter<'reason' | 'transport'>;
  readonly deadLettersDropped: Counter;
  readonly rateLimited: Counter;
  readonly udpCopiesUnanswered: Counter;
  readonly forged: Counter<'reason' | 'transport'>;
  readonly securityEventsDropped: Counter;
  readonly accountReplies: Counter<'account' | 'reply'>;
  readonly accountLastPoll: Gauge<'account'>;
  readonly unmapped: Counter<'account' | 'code'>;
  readonly kindMismatch: Counter<'type' | 'disposition'>;
  readonly previousKeyFrames: Counter<'account'>;
  readonly lateAlarms: Counter<'account'>;
  readonly localClock: Counter<'account'>;
  readonly utcClock: Counter<'account'>;
  readonly panelClocksUnavailable: Counter<'op'>;
  readonly padRefused: Counter<'account'>;
  readonly padStylesUnavailable: Counter<'op'>;
}

export function createDc09Metrics(registry: Registry): Dc09Metrics {
  const refusedConnections = new Counter({
    name: 'gateway_dc09_connections_refused_total',
    help: 'TCP connections refused: per-source (one address at its limit) or max-connections',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  for (const reason of ['per-source', 'max-connections']) refusedConnections.inc({ reason }, 0);
  return {
    ...createStoreMetrics(registry, 'gateway_dc09', 'frame'),
    replies: new Counter({
      name: 'gateway_dc09_replies_total',
      help: 'Replies sent to DC-09 senders, by reply (ACK, NAK, DUH) and transport',
      labelNames: ['reply', 'transport'] as const,
      registers: [registry],
    }),
    unanswered: new Counter({
      name: 'gateway_dc09_unanswered_total',
      help: 'Frames left unanswered after a transient failure (the sender retries), by stage',
      labelNames: ['stage'] as const,
      registers: [registry],
    }),
    connections: new Gauge({
      name: 'gateway_dc09_connections',
      help: 'Open DC-09 TCP connections',
      registers: [registry],
    }),
    refusedConnections,
    closedConnections: new Counter({
      name: 'gateway_dc09_connections_closed_total',
      help: 'TCP connections we closed: idle (no whole frame for the idle timeout) or frame-deadline',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    outputPaused: new Counter({
      name: 'gateway_dc09_output_paused_total',
      help: 'Times a TCP connection was paused because its sender left DC09_MAX_PENDING_OUTPUT_BYTES of replies unread',
      registers: [registry],
    }),
    deadLettersDropped: new Counter({
      name: 'gateway_dc09_dead_letters_dropped_total',
      help: 'Refusals (NAK, UDP non-frames) past the dead-letter budget of every source together: counted and answered as before, not dead-lettered or logged one by one',
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'gateway_dc09_rate_limited_total',
      help: 'Valid frames of an account past its rate (and, for an alarm, its alarm reserve): left unanswered, nothing stored, for the sender to resend',
      registers: [registry],
    }),
    udpCopiesUnanswered: new Counter({
      name: 'gateway_dc09_udp_copies_unanswered_total',
      help: 'Copies of a stored frame that came over UDP from another address than the stored frame: not answered (a forged source would make us a reflector), nothing stored',
      registers: [registry],
    }),
    forged: new Counter({
      name: 'gateway_dc09_forged_total',
      help: 'Encrypted frames of a known account refused as changed without its key, by reason (garbled: a bit flip or blocks spliced, cut off or added; other-account: the data names another account than the header; replayed: the same account, sequence and timestamp, or account, timestamp and events, accepted before with other content; pad: a pad unlike those the account accepted frames showed, as a garbled first block reads, also counted when such a frame is taken for its life-critical alarms alone)',
      labelNames: ['reason', 'transport'] as const,
      registers: [registry],
    }),
    securityEventsDropped: new Counter({
      name: 'gateway_dc09_security_events_dropped_total',
      help: 'Security events past the budget of all sources together (forged frames, counted in gateway_dc09_forged_total; alarms from an account whose kind does not report them, in gateway_dc09_kind_mismatch_total): not published one by one',
      registers: [registry],
    }),
    silenced: new Counter({
      name: 'gateway_dc09_silenced_total',
      help: 'Frames not answered: nak-rate (a refusal past the source NAK budget), not-a-frame (UDP), udp-rate (an answer over UDP past the source address budget), larger-than-frame (an answer over UDP larger than the frame it answers)',
      labelNames: ['reason', 'transport'] as const,
      registers: [registry],
    }),
    // Labelled by account for known accounts only, so the label set is bounded by the registry.
    accountReplies: new Counter({
      name: 'gateway_dc09_account_replies_total',
      help: 'Replies to one known account, by reply (ACK, NAK, DUH)',
      labelNames: ['account', 'reply'] as const,
      registers: [registry],
    }),
    accountLastPoll: new Gauge({
      name: 'gateway_dc09_account_last_poll_seconds',
      help: 'When a known account last polled (NULL message accepted), Unix seconds',
      labelNames: ['account'] as const,
      registers: [registry],
    }),
    unmapped: new Counter({
      name: 'gateway_dc09_unmapped_codes_total',
      help: 'Valid codes outside the mapping table, stored as code.unmapped, by account and code',
      labelNames: ['account', 'code'] as const,
      registers: [registry],
    }),
    previousKeyFrames: new Counter({
      name: 'gateway_dc09_previous_key_frames_total',
      help: "Frames of a known account that decrypted only with its previous key, within that key's grace after a key change (accepted; the panel is not re-keyed yet), by account",
      labelNames: ['account'] as const,
      registers: [registry],
    }),
    lateAlarms: new Counter({
      name: 'gateway_dc09_late_alarms_total',
      help: 'Frames behind the timestamp window taken late for the life-critical alarm they carry (a panel sending what it buffered during an outage with its first timestamps), by account',
      labelNames: ['account'] as const,
      registers: [registry],
    }),
    localClock: new Counter({
      name: 'gateway_dc09_local_clock_frames_total',
      help: 'Frames of an account on UTC refused for a timestamp a whole number of hours from ours (a panel clock on local time: set the account clockZone), by account',
      labelNames: ['account'] as const,
      registers: [registry],
    }),
    utcClock: new Counter({
      name: 'gateway_dc09_utc_clock_frames_total',
      help: 'Frames of an account on a zone whose timestamp read there is a whole number of hours from ours and read as UTC is in the window (a panel clock on UTC: set it to the zone, or the account clockZone to UTC), by account: refused, or taken as UTC for their life-critical alarms',
      labelNames: ['account'] as const,
      registers: [registry],
    }),
    panelClocksUnavailable: bucketFailures(
      registry,
      'gateway_dc09_panel_clocks_unavailable_total',
      'Reads (a first frame of a zoned account read with what this instance knows) and writes of the panel clock bucket that failed or were not answered in time, by op',
    ),
    padRefused: new Counter({
      name: 'gateway_dc09_pad_refused_total',
      help: 'Encrypted frames of an account whose pad was unlike those its accepted frames showed, refused or taken for their life-critical alarms alone (also counted in gateway_dc09_forged_total, reason pad), by account: a forgery, or a panel whose new firmware pads another way (save the account again in the registry to learn its pads anew)',
      labelNames: ['account'] as const,
      registers: [registry],
    }),
    padStylesUnavailable: bucketFailures(
      registry,
      'gateway_dc09_pad_styles_unavailable_total',
      'Reads (an account first frame at this instance judged by what it knows) and writes of the pad profiles in the panel clock bucket that failed or were not answered in time, by op',
    ),
    kindMismatch: new Counter({
      name: 'gateway_dc09_kind_mismatch_total',
      help: 'Mapped events of a type the account device kind does not report, by type and disposition (stored: a life-critical alarm, never refused; refused: not stored, the frame ACKed and dead-lettered type-not-for-kind)',
      labelNames: ['type', 'disposition'] as const,
      registers: [registry],
    }),
  };
}

/** Reads and writes of a bucket that failed or were not answered in time, by op (both shown from 0). */
function bucketFailures(registry: Registry, name: string, help: string): Counter<'op'> {
  const counter = new Counter({ name, help, labelNames: ['op'] as const, registers: [registry] });
  for (const op of ['read', 'write']) counter.inc({ op }, 0);
  return counter;
}
