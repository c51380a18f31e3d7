import Actions
import Core
import Foundation
import Hummingbird
import Inbound
import Logging
import NIOCore

/// The admin listener's open operational endpoints (no token). On a non-loopback bind `/readyz`
/// answers only its status; the details (mailbox errors name hosts) are at `GET /v1/health`.
struct AdminRoutes: Sendable {
    /// Queue lag above which the daemon reports itself not ready.
    static let maxReadyQueueLag: TimeInterval = 120

    let store: any Store
    let queue: any JobQueue
    let metrics: DaemonMetrics
    let health: LoopHealth
    let mailboxes: MailboxHealth
    let stallLimit: @Sendable () -> Duration
    let startedAt: Date
    let logger: Logger
    /// Whether `/readyz` includes its checks (loopback binds) or only the status.
    var detailed = true
    /// Outbound webhook endpoint state, shown in `/readyz` (disabled endpoints do not fail it).
    var webhooks: (any WebhookDeliveryStore)? = nil
    /// Calendar providers' health, shown in `/readyz` (never fails it; see `calendarCheck`).
    var calendars: CalendarHealth? = nil
    /// The webhook listener's requests in flight, for `/metrics`.
    var intakeLoad: IntakeLoad? = nil

    func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("/healthz") { _, _ in
            Problem.json(.ok, .object(["status": .string("ok")]))
        }
        router.get("/readyz") { _, _ in
            await readiness(detailed: detailed)
        }
        router.get("/metrics") { _, _ in
            await metricsResponse()
        }
    }

    func readiness(detailed: Bool = true) async -> Response {
        var checks: [String: JSONValue] = [:]
        var ready = true
        do {
            try await store.ping()
            checks["store"] = .object(["ok": .bool(true)])
        } catch {
            ready = false
            logger.error("Readiness: store ping failed", metadata: ["error": "\(error)"])
            checks["store"] = .object(["ok": .bool(false), "detail": .string("store unavailable")])
        }
        do {
            let stats = try await queue.stats()
            let lagOK = stats.oldestReadyAge <= Self.maxReadyQueueLag
            ready = ready && lagOK
            checks["queue"] = .object([
                "ok": .bool(lagOK),
                "lag_seconds": .number((stats.oldestReadyAge * 1000).rounded() / 1000),
                "ready": .number(Double(stats.total(.ready))),
                "leased": .number(Double(stats.total(.leased))),
                "dead": .number(Double(stats.total(.dead))),
            ])
        } catch {
            ready = false
            checks["queue"] = .object(["ok": .bool(false), "detail": .string("queue unavailable")])
        }
        let loopOK = health.sinceLastTick <= stallLimit()
        ready = ready && loopOK
        checks["job_loop"] = .object(["ok": .bool(loopOK)])
        // Webhook sources are passive; mailboxes fail when they have not synced for unhealthy_after.
        let now = Date()
        var failing: [JSONValue] = []
        var boxes: [JSONValue] = []
        for box in mailboxes.snapshots() {
            let healthy = box.isHealthy(at: now)
            if !healthy { failing.append(.string("\(box.source)/\(box.folder)")) }
            var entry: [String: JSONValue] = [
                "source": .string(box.source), "folder": .string(box.folder), "ok": .bool(healthy), "state": .string(box.state),
                "consecutive_failures": .number(Double(box.consecutiveFailures)), "skipped_messages": .number(Double(box.skipped)),
                "last_sync": box.lastSync.map { JSONValue.string(ISO8601DateFormatter().string(from: $0)) } ?? .null,
                "idle_seconds": box.idleSince.map { JSONValue.number(now.timeIntervalSince($0).rounded()) } ?? .null,
            ]
            // The error text names hosts and server answers, never secrets; the admin port is loopback-only.
            if let error = box.lastError { entry["last_error"] = .string(error) }
            boxes.append(.object(entry))
        }
        ready = ready && failing.isEmpty
        checks["sources"] = .object(["ok": .bool(failing.isEmpty), "failing": .array(failing), "mailboxes": .array(boxes)])
        guard detailed else { return Problem.json(ready ? .ok : .serviceUnavailable, .object(["status": .string(ready ? "ready" : "not ready")])) }
        if let webhooks {
            do {
                let disabled = try await webhooks.disabledWebhookEndpoints().map { state -> JSONValue in
                    .object([
                        "organization": .string(state.organization), "endpoint": .string(state.endpoint),
                        "disabled_at": state.disabledAt.map { JSONValue.string(ISO8601DateFormatter().string(from: $0)) } ?? .null,
                        "reason": .string(state.disabledReason ?? ""),
                    ])
                }
                // A receiver that said 410 Gone is the receiver's decision, not a fault here: shown, not failed.
                checks["outbound_webhooks"] = .object(["ok": .bool(true), "disabled": .array(disabled)])
            } catch {
                checks["outbound_webhooks"] = .object(["ok": .bool(true), "detail": .string("endpoint state unavailable")])
            }
        }
        if let calendars {
            checks["calendars"] = Self.calendarCheck(calendars.snapshot())
        }
        let body: JSONValue = .object([
            "status": .string(ready ? "ready" : "not ready"),
            "uptime_seconds": .number(Date().timeIntervalSince(startedAt).rounded()),
            "checks": .object(checks),
        ])
        return Problem.json(ready ? .ok : .serviceUnavailable, body)
    }

    /// Calendar providers never fail readiness: mail, webhooks and the other jobs still flow when
    /// a calendar account is broken, and a restart cannot reconnect an OAuth grant. The check is
    /// `ok: true` with `state` `degraded` when any provider is degraded or needs reconnecting, and
    /// `reconnect_needed` lists those an operator must reconnect.
    static func calendarCheck(_ providers: [CalendarProviderHealth]) -> JSONValue {
        let time = ISO8601DateFormatter()
        let reconnect = providers.filter { $0.state == .reconnectNeeded }.map { JSONValue.string($0.provider) }
        let degraded = providers.contains { $0.state == .degraded || $0.state == .reconnectNeeded }
        let entries = providers.map { entry -> JSONValue in
            let parts = entry.provider.split(separator: "/", maxSplits: 1).map(String.init)
            return .object([
                "provider": .string(entry.provider), "calendar": .string(parts.first ?? entry.provider), "host": .string(parts.count > 1 ? parts[1] : ""),
                "kind": .string(entry.kind), "state": .string(entry.state.rawValue),
                "reconnect_needed": .bool(entry.state == .reconnectNeeded),
                // Provider error texts carry HTTP statuses and the provider's reason, never secrets.
                "last_error": entry.lastError.map(JSONValue.string) ?? .null,
                "since": entry.since.map { JSONValue.string(time.string(from: $0)) } ?? .null,
                "last_success": entry.lastSuccess.map { JSONValue.string(time.string(from: $0)) } ?? .null,
                "consecutive_failures": .number(Double(entry.consecutiveFailures)),
            ])
        }
        return .object([
            "ok": .bool(true), "state": .string(degraded ? "degraded" : "ok"), "reconnect_needed": .array(reconnect), "providers": .array(entries),
        ])
    }

    func metricsResponse() async -> Response {
        if let calendars { metrics.refresh(calendars: calendars.snapshot()) }
        if let intakeLoad { metrics.webhookRequestsInFlight(intakeLoad.requestsInFlight) }
        do {
            metrics.refresh(mailboxes: mailboxes.snapshots(), now: Date())
            metrics.refresh(stats: try await queue.stats(), counts: try await store.counts())
        } catch {
            logger.warning("Metrics: store counts unavailable", metadata: ["error": "\(error)"])
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: metrics.emit()))
        )
    }
}
