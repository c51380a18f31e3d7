import Actions
import Core
import Foundation
import Inbound
import Prometheus
import Rules

/// Every metric the daemon exports, declared here and nowhere else: the Prometheus registry traps
/// when one name is registered with two types, so one file keeps names and types consistent.
/// HTTP request metrics come from Hummingbird's MetricsMiddleware through the same registry.
final class DaemonMetrics: Sendable {
    let registry: PrometheusCollectorRegistry

    init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
    }

    // MARK: Intake

    func intakeAccepted(source: String, duplicate: Bool) {
        registry.makeCounter(name: "astralisd_webhooks_accepted_total", labels: [("source", source), ("duplicate", duplicate ? "true" : "false")], help: "Webhook requests answered 202, by source; duplicate=true for idempotent replays").increment()
    }

    func intakeRejected(source: String, reason: String) {
        registry.makeCounter(name: "astralisd_webhooks_rejected_total", labels: [("source", source), ("reason", reason)], help: "Webhook requests refused, by source and reason").increment()
    }

    var ingressObserver: IngressObserver {
        IngressObserver(
            accepted: { [self] source, duplicate in intakeAccepted(source: source, duplicate: duplicate) },
            rejected: { [self] source, reason in intakeRejected(source: source, reason: reason) }
        )
    }

    // MARK: Spool folders

    var spoolObserver: SpoolObserver {
        SpoolObserver(
            taken: { [self] source, duplicate in
                registry.makeCounter(name: "astralisd_spool_files_taken_total", labels: [("source", source), ("duplicate", duplicate ? "true" : "false")], help: "Spool files made intakes and moved to the done folder, by source; duplicate=true when the intake already existed").increment()
            },
            failed: { [self] source, reason in
                registry.makeCounter(name: "astralisd_spool_files_failed_total", labels: [("source", source), ("reason", reason)], help: "Spool files moved to the failed folder, by source and reason").increment()
            }
        )
    }

    // MARK: Documents

    static let documentBuckets: [Duration] = [.milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(180)]

    var documentObserver: DocumentObserver {
        DocumentObserver(finished: { [self] outcome, seconds in
            registry.makeCounter(name: "astralisd_documents_total", labels: [("outcome", outcome)], help: "Documents finished, by outcome (completed, failed, unsupported)").increment()
            registry.makeDurationHistogram(name: "astralisd_document_extraction_seconds", labels: [], buckets: Self.documentBuckets, help: "Time to extract one document (sniffing, limits, child process, storing)").record(.milliseconds(Int64(seconds * 1000)))
        }, workerReplaced: { [self] reason in
            registry.makeCounter(name: "astralisd_extraction_worker_restarts_total", labels: [("reason", reason)], help: "Extraction workers replaced, by reason (crash, timeout, cpu_limit, exit, bad_output, lost, exited, recycled, settings_changed)").increment()
        })
    }

    /// One call of the document field model (`documents.model`): outcome `ok`, `timeout`,
    /// `transport-error`, `http-error`, `rate-limited`, `refusal`, `truncated` or `invalid-output`.
    func documentModelCall(outcome: String, seconds: Double) {
        registry.makeCounter(name: "astralisd_document_model_calls_total", labels: [("outcome", outcome)], help: "Document field model calls by outcome (ok, timeout, transport-error, http-error, rate-limited, refusal, truncated, invalid-output)").increment()
        registry.makeDurationHistogram(name: "astralisd_document_model_duration_seconds", labels: [], buckets: Self.aiBuckets, help: "Time one document field model call took").record(.milliseconds(Int64(seconds * 1000)))
    }

    /// Page images for the document field model: `sent` (images attached to requests) or
    /// `rejected` (requests the endpoint refused for their images, repeated with text only).
    func documentModelImages(event: String, count: Int) {
        switch event {
        case "sent":
            registry.makeCounter(name: "astralisd_document_model_images_sent_total", labels: [], help: "Scanned-page images sent to the document field model").increment(by: Int64(count))
        default:
            registry.makeCounter(name: "astralisd_document_model_image_rejections_total", labels: [], help: "Document field model requests rejected for their images and repeated with text only").increment(by: Int64(count))
        }
    }

    // MARK: Jobs

    static let jobBuckets: [Duration] = [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5), .seconds(30)]

    func jobFinished(kind: String, outcome: String, duration: Duration) {
        registry.makeCounter(name: "astralisd_jobs_finished_total", labels: [("kind", kind), ("outcome", outcome)], help: "Job attempts by kind and outcome (done, retry, dead, released)").increment()
        registry.makeDurationHistogram(name: "astralisd_job_duration_seconds", labels: [("kind", kind)], buckets: Self.jobBuckets, help: "Time one job attempt took").record(duration)
    }

    /// How many jobs the worker may start at once right now: `workers.concurrency`, or
    /// `workers.burst_concurrency` while the webhook listener is busy.
    func jobSlots(_ slots: Int) {
        registry.makeGauge(name: "astralisd_job_slots", help: "Jobs the worker may run at once now (workers.burst_concurrency while the webhook listener is busy, 0 while processing is paused for it, else workers.concurrency)").set(Double(slots))
    }

    /// Webhook requests being served at the moment of the scrape.
    func webhookRequestsInFlight(_ count: Int) {
        registry.makeGauge(name: "astralisd_webhook_requests_in_flight", help: "Webhook requests being served").set(Double(count))
    }

    /// Point-in-time gauges, refreshed from the store on every scrape.
    func refresh(stats: JobStats, counts: StoreCounts) {
        for state in JobState.allCases {
            registry.makeGauge(name: "astralisd_jobs", labels: [("state", state.rawValue)], help: "Jobs in the queue by state").set(Double(stats.total(state)))
        }
        registry.makeGauge(name: "astralisd_queue_lag_seconds", help: "Age of the oldest due job not yet leased").set(stats.oldestReadyAge)
        for status in IntakeStatus.allCases {
            registry.makeGauge(name: "astralisd_intakes", labels: [("status", status.rawValue)], help: "Intakes by status").set(Double(counts.intakesByStatus[status.rawValue] ?? 0))
        }
        registry.makeGauge(name: "astralisd_items", help: "Pipeline items").set(Double(counts.items))
    }

    // MARK: AI router

    static let aiBuckets: [Duration] = [.milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30), .seconds(60)]

    var aiObserver: AIRouterObserver {
        AIRouterObserver(
            outcome: { [self] outcome in
                registry.makeCounter(name: "astralisd_ai_classifications_total", labels: [("outcome", outcome)], help: "AI router classifications by outcome (accepted, cached, low-confidence, none-fits, invalid-output, refusal, truncated, unknown-destination, error, rate-limited)").increment()
            },
            tokens: { [self] prompt, completion in
                registry.makeCounter(name: "astralisd_ai_tokens_total", labels: [("kind", "prompt")], help: "Tokens the AI router's model reported, by kind").increment(by: Int64(prompt))
                registry.makeCounter(name: "astralisd_ai_tokens_total", labels: [("kind", "completion")], help: "Tokens the AI router's model reported, by kind").increment(by: Int64(completion))
            },
            latency: { [self] seconds in
                registry.makeDurationHistogram(name: "astralisd_ai_duration_seconds", labels: [], buckets: Self.aiBuckets, help: "Time one AI classification took, retries included").record(.milliseconds(Int64(seconds * 1000)))
            }
        )
    }

    // MARK: Mailboxes

    var mailboxObserver: MailboxObserver {
        MailboxObserver(
            message: { [self] source, folder, outcome in
                registry.makeCounter(name: "astralisd_mailbox_messages_total", labels: [("source", source), ("folder", folder), ("outcome", outcome)], help: "IMAP messages handled, by outcome (ingested, duplicate, skipped_too_large)").increment()
            },
            failure: { [self] source, folder, kind in
                registry.makeCounter(name: "astralisd_mailbox_failures_total", labels: [("source", source), ("folder", folder), ("kind", kind)], help: "IMAP connection or sync failures, by kind").increment()
            }
        )
    }

    /// Mailbox gauges, refreshed from the pollers' health on every scrape.
    func refresh(mailboxes: [MailboxHealth.Snapshot], now: Date) {
        for box in mailboxes {
            let labels = [("source", box.source), ("folder", box.folder)]
            registry.makeGauge(name: "astralisd_mailbox_last_sync_timestamp_seconds", labels: labels, help: "Unix time of the last successful sync (0: none yet)").set(box.lastSync?.timeIntervalSince1970 ?? 0)
            let idleAge: Double = box.idleSince.map { now.timeIntervalSince($0) } ?? 0
            registry.makeGauge(name: "astralisd_mailbox_idle_age_seconds", labels: labels, help: "How long the current IDLE has lasted (0: not idling)").set(idleAge)
            registry.makeGauge(name: "astralisd_mailbox_consecutive_failures", labels: labels, help: "Failed connects or syncs since the last successful sync").set(Double(box.consecutiveFailures))
            registry.makeGauge(name: "astralisd_mailbox_healthy", labels: labels, help: "1 while the folder synced within unhealthy_after_seconds").set(Double(box.isHealthy(at: now) ? 1 : 0))
        }
    }

    // MARK: Replies

    static let smtpBuckets: [Duration] = [.milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5), .seconds(30)]

    /// One reply job's outcome: sent, suppressed, failed (5xx / cannot compose), deferred (4xx,
    /// connection error; retried), unconfirmed (a crash left delivery unknown), duplicate (already done).
    func reply(outcome: String) {
        registry.makeCounter(name: "astralisd_replies_total", labels: [("outcome", outcome)], help: "Automatic reply attempts by outcome (sent, suppressed, failed, deferred, unconfirmed, duplicate)").increment()
    }

    // MARK: Bookings

    func booking(outcome: String) {
        registry.makeCounter(name: "astralisd_bookings_total", labels: [("outcome", outcome)], help: "Booking steps by outcome (planned, unavailable, unservable, confirmed, failed, offered, rescheduled, cancelled, stale)").increment()
    }

    func reminder(outcome: String) {
        registry.makeCounter(name: "astralisd_booking_reminders_total", labels: [("outcome", outcome)], help: "Reminder jobs by outcome (sent, stale: the booking moved or was cancelled, late: due after the start)").increment()
    }

    func bookingEmail(kind: String) {
        registry.makeCounter(name: "astralisd_booking_emails_total", labels: [("kind", kind)], help: "Booking emails handled by kind (invitation, update, cancel, reminder, offer)").increment()
    }

    func bookingEmailOutcome(_ outcome: String) {
        registry.makeCounter(name: "astralisd_booking_email_outcomes_total", labels: [("outcome", outcome)], help: "Booking email attempts by outcome (sent, suppressed, failed, deferred, unconfirmed, duplicate)").increment()
    }

    func smtpSend(account: String, duration: Duration, newConnections: Int) {
        registry.makeDurationHistogram(name: "astralisd_smtp_send_duration_seconds", labels: [("account", account)], buckets: Self.smtpBuckets, help: "Time one SMTP transaction took, connection set-up included").record(duration)
        registry.makeCounter(name: "astralisd_smtp_connections_total", labels: [("account", account)], help: "SMTP connections opened (a reused connection opens none)").increment(by: Int64(newConnections))
    }

    // MARK: Outbound webhooks

    static let webhookBuckets: [Duration] = [.milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30)]

    /// One delivery attempt (or skip) of an outbound webhook; `duration` nil when no request was made.
    func webhookDelivery(endpoint: String, outcome: String, duration: Duration?) {
        registry.makeCounter(name: "astralisd_webhook_deliveries_total", labels: [("endpoint", endpoint), ("outcome", outcome)], help: "Outbound webhook attempts by endpoint and outcome (delivered, retry, failed, gone, skipped)").increment()
        if let duration {
            registry.makeDurationHistogram(name: "astralisd_webhook_delivery_duration_seconds", labels: [("endpoint", endpoint)], buckets: Self.webhookBuckets, help: "Time one outbound webhook request took").record(duration)
        }
    }

    // MARK: Calendar providers

    static let calendarBuckets: [Duration] = [.milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30), .seconds(60)]

    /// Fed by the CalDAV and Google providers (and the local provider's wrapper) of the daemon.
    var calendarObserver: CalendarProviderObserver {
        CalendarProviderObserver(
            call: { [self] kind, operation, outcome, seconds in
                registry.makeCounter(name: "astralisd_calendar_calls_total", labels: [("kind", kind), ("operation", operation), ("outcome", outcome)], help: "Calendar provider operations by provider kind, operation (busy, create, update, cancel) and outcome (ok, already_existed, reconnect_needed, transient, rejected)").increment()
                registry.makeDurationHistogram(name: "astralisd_calendar_call_duration_seconds", labels: [("kind", kind), ("operation", operation)], buckets: Self.calendarBuckets, help: "Time one calendar provider operation took, retries included").record(.milliseconds(Int64(seconds * 1000)))
            },
            retry: { [self] kind, reason in
                registry.makeCounter(name: "astralisd_calendar_retries_total", labels: [("kind", kind), ("reason", reason)], help: "Calendar provider HTTP attempts retried inside an operation, by kind and reason (429, 503, 403 rateLimitExceeded, transport, token 500...)").increment()
            },
            tokenRefresh: { [self] outcome in
                registry.makeCounter(name: "astralisd_calendar_token_refreshes_total", labels: [("outcome", outcome)], help: "OAuth access token refreshes (Google Calendar) by outcome (ok, reconnect_needed, transient, rejected)").increment()
            }
        )
    }

    /// Providers per health state (every state, 0 included), refreshed from `CalendarHealth` on every scrape.
    func refresh(calendars: [CalendarProviderHealth]) {
        for state in CalendarProviderHealth.State.allCases {
            registry.makeGauge(name: "astralisd_calendar_providers", labels: [("state", state.rawValue)], help: "Calendar providers (calendar/host) by health state (unknown, ok, degraded, reconnect_needed)").set(Double(calendars.filter { $0.state == state }.count))
        }
    }

    // MARK: Booking replies

    /// One iTIP REPLY found in an email: `updated`, `unchanged`, `stale`, `unknown_booking`,
    /// `sender_mismatch`, `unknown_attendee`, `inactive`, `conflict`, `malformed`, `error`.
    func bookingReply(outcome: String) {
        registry.makeCounter(name: "astralisd_booking_replies_total", labels: [("outcome", outcome)], help: "Attendee iTIP replies received by email, by outcome (updated, unchanged, stale, unknown_booking, sender_mismatch, unknown_attendee, inactive, conflict, malformed, error)").increment()
    }

    func configReload(success: Bool) {
        registry.makeCounter(name: "astralisd_config_reloads_total", labels: [("result", success ? "applied" : "rejected")], help: "SIGHUP reloads by result").increment()
    }

    // MARK: Admin API

    /// One answered `/v1` request, by route template (never the concrete id) and status code.
    func adminRequest(route: String, status: Int) {
        registry.makeCounter(name: "astralisd_admin_requests_total", labels: [("route", route), ("status", String(status))], help: "Admin API requests by route template and status").increment()
    }

    /// A refused admin API authentication: `missing`, `invalid` (malformed, unknown, revoked or expired: one answer) or `rate_limited`.
    func adminAuthFailure(reason: String) {
        registry.makeCounter(name: "astralisd_admin_auth_failures_total", labels: [("reason", reason)], help: "Admin API requests refused before authorization, by reason").increment()
    }

    func emit() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
