import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type TriageMetrics = ReturnType<typeof createTriageMetrics>;

export function createTriageMetrics(registry: Registry) {
  return {
    eventsEvaluated: new Counter({
      name: 'triage_events_evaluated_total',
      help: 'Events evaluated by the rules and acknowledged, by event type',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
    duplicateEvents: new Counter({
      name: 'triage_events_duplicate_total',
      help: 'Events the resident state had already taken (a redelivery, or an alarm read again by its partition lane): nothing raised again',
      registers: [registry],
    }),
    alertsPublished: new Counter({
      name: 'triage_alerts_published_total',
      help: 'Alerts stored in ALERTS, by priority and lateness',
      labelNames: ['priority', 'late'] as const,
      registers: [registry],
    }),
    alertsByType: new Counter({
      name: 'triage_alerts_published_by_type_total',
      help: 'Alerts stored in ALERTS, by alert type (supervision.lost: devices gone silent)',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
    rulesSeconds: new Histogram({
      name: 'triage_rules_seconds',
      help: 'Time in the rules core for one event (pure evaluation, no I/O)',
      buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01],
      registers: [registry],
    }),
    alertsDeduplicated: new Counter({
      name: 'triage_alerts_deduplicated_total',
      help: 'Alerts ALERTS already held under the same id (JetStream duplicate window)',
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: 'triage_deadletters_total',
      help: 'Events refused and dead-lettered, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    retries: new Counter({
      name: 'triage_retries_total',
      help: 'Events handed back for redelivery after a transient failure, by dependency',
      labelNames: ['dependency'] as const,
      registers: [registry],
    }),
    lateEvents: new Counter({
      name: 'triage_events_late_total',
      help: 'Events whose event time was older than the lateness bound when triage took them',
      registers: [registry],
    }),
    timersFired: new Counter({
      name: 'triage_timers_fired_total',
      help: 'Stored timers come due and fed to the rules as ticks, by rule',
      labelNames: ['rule'] as const,
      registers: [registry],
    }),
    alertsWithheld: new Counter({
      name: 'triage_alerts_withheld_total',
      help: 'Per-home alerts held for an area decision and not sent because their district raised an area incident',
      labelNames: ['rule'] as const,
      registers: [registry],
    }),
    alertsHeldAway: new Counter({
      name: 'triage_alerts_held_away_total',
      help: 'Alerts the rules did not raise because the resident is declared away (absence-type rules only), by rule',
      labelNames: ['rule'] as const,
      registers: [registry],
    }),
    alertsSuppressed: new Counter({
      name: 'triage_alerts_suppressed_total',
      help: 'Reports of a limited trigger rule not raised because their device sent the rule its limit of them within its window (a flapping sensor), by rule',
      labelNames: ['rule'] as const,
      registers: [registry],
    }),
    cancelsNotTaken: new Counter({
      name: 'triage_cancels_not_taken_total',
      help: "Cancels that paired with an alarm and did not close it, because their device had sent cancels with no alarm to cancel within the hour before (a stolen login sending cancels to close presses it cannot see), or the alarm's alert also holds another device's press the cancel may not close: the alarm is left for an operator, with a note. By rule",
      labelNames: ['rule'] as const,
      registers: [registry],
    }),
    alertsReleased: new Counter({
      name: 'triage_alerts_held_released_total',
      help: 'Per-home alerts held for an area decision and sent because no area incident covered them',
      labelNames: ['rule'] as const,
      registers: [registry],
    }),
    timersPending: new Gauge({
      name: 'triage_timers_indexed',
      help: 'Timers in the index at its last rebuild (start-up, or Redis found empty)',
      registers: [registry],
    }),
    timerWrites: new Counter({
      name: 'triage_timer_writes_total',
      help: 'Timer records written to the durable bucket, one JetStream publish with ack each: put (a timer set or moved), purge (cancelled, or removed once fired), or refused (a new timer the full bucket did not take: kept in Redis only), by rule',
      labelNames: ['op', 'rule'] as const,
      registers: [registry],
    }),
    timersUnread: new Counter({
      name: 'triage_timers_fired_unread_total',
      help: 'Timers fired past TRIAGE_TIMER_MAX_WAIT_S while their partition lane had not yet read everything stored before they fell due (a check that may be decided without events that would cancel it)',
      registers: [registry],
    }),
    timerIndexLost: new Counter({
      name: 'triage_timer_index_lost_total',
      help: 'Times Redis was found to have lost the timer index while running, which was then rebuilt',
      registers: [registry],
    }),
    alarmsAheadOfState: new Counter({
      name: 'triage_alarms_ahead_of_state_total',
      help: 'Alarms an alarm lane acked once their alerts were stored, with Redis away: their state saved by their partition lane. state="unknown": decided without the resident state',
      labelNames: ['state'] as const,
      registers: [registry],
    }),
    redisAway: new Gauge({
      name: 'triage_redis_away',
      help: 'Whether Redis is known away now (1): not connected, or a command or PING left unanswered on a live connection; its commands then fail at once',
      registers: [registry],
    }),
    redisWentAway: new Counter({
      name: 'triage_redis_away_total',
      help: 'Times Redis went away, by cause: disconnected (the client lost its connection), unanswered (a command timed out, or a PING went unanswered, on a live connection)',
      labelNames: ['cause'] as const,
      registers: [registry],
    }),
    redisRefusing: new Gauge({
      name: 'triage_redis_refusing',
      help: 'Whether Redis answers but refuses writes now (1), by reason: oom (maxmemory reached with noeviction), loading (its dataset: commands refused too), readonly (a replica, after a failover), misconf (its snapshots fail). Writes fail at once until a probe write is taken',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    redisRefusals: new Counter({
      name: 'triage_redis_refusals_total',
      help: 'Times Redis began refusing writes (or changed its reason), by reason (see triage_redis_refusing)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    eventIndexSkipped: new Counter({
      name: 'triage_event_index_skipped_total',
      help: 'Events acked without their index write, which Redis did not take in time: each claimed as a gap in its resident index until Redis answers for it',
      registers: [registry],
    }),
    eventIndexSkipsSettled: new Counter({
      name: 'triage_event_index_skips_settled_total',
      help: 'Skipped index writes settled once Redis answered for them, by outcome: landed (written late: no gap) or lost (the resident gap raised to it)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    stateLoads: new Counter({
      name: 'triage_state_loads_total',
      help: 'Resident states loaded for an event or timer, by where from: memory (held, see TRIAGE_STATE_CACHE), redis, or none (a new or unreadable state)',
      labelNames: ['from'] as const,
      registers: [registry],
    }),
    partitionsOwned: new Gauge({
      name: 'triage_partitions_owned',
      help: 'Partitions this instance holds the lease of and runs',
      registers: [registry],
    }),
    leaseMembers: new Gauge({
      name: 'triage_lease_members',
      help: 'Live triage instances of the namespace, as this one last counted them',
      registers: [registry],
    }),
    leasesTaken: new Counter({
      name: 'triage_leases_taken_total',
      help: 'Leases taken, by lease kind (partition, area)',
      labelNames: ['lease'] as const,
      registers: [registry],
    }),
    leasesLost: new Counter({
      name: 'triage_leases_lost_total',
      help: 'Leases lost (taken over, or not renewed in time): their work stopped at once',
      labelNames: ['lease'] as const,
      registers: [registry],
    }),
    leasesReleased: new Counter({
      name: 'triage_leases_released_total',
      help: 'Leases given up after draining (rebalance or stop)',
      labelNames: ['lease'] as const,
      registers: [registry],
    }),
    evaluationSeconds: new Histogram({
      name: 'triage_evaluation_seconds',
      help: 'Time from taking an event to acknowledging it: state load, rules, alert publish, state save',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}

/** `triage_states_held`: read from the state store when scraped. */
export function registerStatesHeld(registry: Registry, held: () => number): void {
  new Gauge({
    name: 'triage_states_held',
    help: 'Resident states held decoded in memory (at most TRIAGE_STATE_CACHE)',
    registers: [registry],
    collect() {
      this.set(held());
    },
  });
}
