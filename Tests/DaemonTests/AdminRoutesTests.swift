@testable import Daemon
import Core
import Foundation
import Hummingbird
import HummingbirdTesting
import Inbound
import Logging
import NIOCore
import Testing

/// The admin port and the metrics it exports, driven in-process on a real state directory.
@Suite("Admin port: health, readiness, metrics")
struct AdminRoutesTests {
    func withApp(_ body: (DaemonApp) async throws -> Void) async throws {
        let fixture = try DaemonFixture()
        defer { fixture.cleanUp() }
        let loaded = try ConfigLoader.load(path: fixture.configPath, environment: [:])
        let app = try await DaemonApp.open(
            loaded: loaded, environment: [:], notifier: SystemdNotifier(environment: [:]),
            logLevel: SharedValue(.warning), logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        try await body(app)
    }

    @Test func healthAndReadiness() async throws {
        try await withApp { app in
            try await Application(router: app.makeAdminRouter()).test(.router) { client in
                let health = try await client.execute(uri: "/healthz", method: .get)
                #expect(health.status == .ok)
                let ready = try await client.execute(uri: "/readyz", method: .get)
                #expect(ready.status == .ok)
                let body = try JSONValue.parse(Data(ready.body.readableBytesView))
                #expect(body["status"]?.stringValue == "ready")
                #expect(body["checks"]?["store"]?["ok"] == .bool(true))
                #expect(body["checks"]?["queue"]?["ready"] == .number(0))
            }
        }
    }

    @Test func metricsCountIntakesJobsAndRejections() async throws {
        try await withApp { app in
            let payload = #"{"name": "Ada", "subject": "Hello"}"#
            try await Application(router: app.makeWebhookRouter()).test(.router) { client in
                for _ in 0..<2 {
                    let answer = try await client.execute(uri: "/hooks/\(DaemonFixture.source)", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: payload))
                    #expect(answer.status == .accepted)
                }
                let refused = try await client.execute(uri: "/hooks/\(DaemonFixture.source)", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "hi"))
                #expect(refused.status == .unsupportedMediaType)
            }
            try await Application(router: app.makeAdminRouter()).test(.router) { client in
                let response = try await client.execute(uri: "/metrics", method: .get)
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                let text = String(buffer: response.body)
                let expected = [
                    #"astralisd_webhooks_accepted_total{source="contact-form",duplicate="false"} 2"#,
                    #"astralisd_webhooks_rejected_total{source="contact-form",reason="unsupported_type"} 1"#,
                    #"astralisd_jobs{state="ready"} 2.0"#,
                    #"astralisd_intakes{status="received"} 2.0"#,
                    "astralisd_queue_lag_seconds ",
                    "astralisd_items 0.0",
                ]
                for line in expected {
                    #expect(text.contains(line), "missing \(line) in:\n\(text)")
                }
            }
        }
    }

    @Test func aMailboxPastUnhealthyAfterFailsReadiness() async throws {
        try await withApp { app in
            let now = Date()
            app.mailboxes.register(source: "mail", folder: "INBOX", unhealthyAfter: 60, at: now.addingTimeInterval(-120))
            app.mailboxes.update(source: "mail", folder: "INBOX") {
                $0.state = "failing"
                $0.consecutiveFailures = 4
                $0.lastError = "IMAP LOGIN failed (authentication): credentials refused"
            }
            app.mailboxes.register(source: "mail", folder: "Invoices", unhealthyAfter: 60)
            app.mailboxes.update(source: "mail", folder: "Invoices") {
                $0.state = "idle"
                $0.lastSync = now
                $0.idleSince = now.addingTimeInterval(-5)
            }
            try await Application(router: app.makeAdminRouter()).test(.router) { client in
                let ready = try await client.execute(uri: "/readyz", method: .get)
                #expect(ready.status == .serviceUnavailable)
                let body = try JSONValue.parse(Data(ready.body.readableBytesView))
                let sources = body["checks"]?["sources"]
                #expect(sources?["ok"] == .bool(false))
                #expect(sources?["failing"] == .array([.string("mail/INBOX")]))
                let boxes = sources?["mailboxes"]?.arrayValue ?? []
                #expect(boxes.count == 2)
                #expect(boxes.first?["state"] == .string("failing"))
                #expect(boxes.first?["consecutive_failures"] == .number(4))
                #expect(boxes.first?["last_sync"] == .null)
                #expect(boxes.last?["ok"] == .bool(true))
                // Five seconds idle when the check ran, plus however long this busy machine took to get here.
                var idleSeconds = -1.0
                if case .number(let value) = boxes.last?["idle_seconds"] { idleSeconds = value }
                #expect(idleSeconds >= 5 && idleSeconds < 60, "idle_seconds \(idleSeconds)")

                let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
                for line in [
                    #"astralisd_mailbox_healthy{source="mail",folder="INBOX"} 0.0"#,
                    #"astralisd_mailbox_healthy{source="mail",folder="Invoices"} 1.0"#,
                    #"astralisd_mailbox_consecutive_failures{source="mail",folder="INBOX"} 4.0"#,
                    #"astralisd_mailbox_last_sync_timestamp_seconds{source="mail",folder="INBOX"} 0.0"#,
                ] {
                    #expect(metrics.contains(line), "missing \(line) in:\n\(metrics)")
                }
            }
        }
    }
}
