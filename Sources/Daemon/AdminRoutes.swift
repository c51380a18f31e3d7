import Core
import Foundation
import Hummingbird
import Inbound
import Logging
import NIOCore

/// The admin listener's operational endpoints. Loopback-only until role-based tokens exist.
struct AdminRoutes: Sendable {
    /// Queue lag above which the daemon reports itself not ready.
    static let maxReadyQueueLag: TimeInterval = 120

    let store: any Store
    let queue: any JobQueue
    let metrics: DaemonMetrics
    let health: LoopHealth
    let stallLimit: @Sendable () -> Duration
    let startedAt: Date
    let logger: Logger

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in
            Problem.json(.ok, .object(["status": .string("ok")]))
        }
        router.get("/readyz") { _, _ in
            await readiness()
        }
        router.get("/metrics") { _, _ in
            await metricsResponse()
        }
    }

    func readiness() async -> Response {
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
        // No source can fail yet: webhook sources are passive. Mailboxes will report here.
        checks["sources"] = .object(["ok": .bool(true), "failing": .array([])])
        let body: JSONValue = .object([
            "status": .string(ready ? "ready" : "not ready"),
            "uptime_seconds": .number(Date().timeIntervalSince(startedAt).rounded()),
            "checks": .object(checks),
        ])
        return Problem.json(ready ? .ok : .serviceUnavailable, body)
    }

    func metricsResponse() async -> Response {
        do {
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
