import Foundation
import Testing

/// `scripts/webhook-receiver.py` for process tests: it verifies Standard Webhooks signatures
/// with Python's `hmac`, independently of astralisd's signer, and logs every request.
final class ProcessWebhookReceiver {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    struct Entry: Decodable {
        var path: String
        var id: String
        var valid: Bool
        var status: Int
        var body: String?
    }

    let process: Process
    let port: Int
    let directory: URL
    var base: String { "http://127.0.0.1:\(port)" }

    init() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("whrecv-\(UUID().uuidString.prefix(12))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let portFile = directory.appendingPathComponent("port").path
        let script = TestTools.packageRoot.appendingPathComponent("scripts/webhook-receiver.py").path
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, "--secret", Self.secret, "--port-file", portFile]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        var found: Int?
        for _ in 0..<600 {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let value = Int(text) {
                found = value
                break
            }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        guard let found else {
            process.terminate()
            throw HarnessError("scripts/webhook-receiver.py did not start (python3 missing?)")
        }
        port = found
    }

    func stop() {
        if process.isRunning {
            // SIGKILL: the test runner's blocked SIGTERM is inherited by the child.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    func log() async throws -> [Entry] {
        let result = try await HTTP.request("GET", base + "/_log", timeout: 5)
        guard result.status == 200 else { throw HarnessError("receiver log: \(result.curlError)") }
        return try JSONDecoder().decode([Entry].self, from: Data(result.body.utf8))
    }
}

extension DaemonProcessTests {
    @Suite("Outbound webhooks in the daemon")
    struct OutboundWebhooks {
        static func rules() -> String {
            """
            {"version": 1, "rules": [
              {"id": "vip", "when": {"field": "payload.name", "op": "starts_with", "value": "vip"},
               "then": {"route": {"pipeline": "sales", "stage": "won", "title": "VIP {{payload.name}}"}, "forward": {"webhook": "crm"}}, "stop": true},
              {"id": "old", "when": {"field": "payload.name", "op": "starts_with", "value": "old"},
               "then": {"route": {"pipeline": "sales", "stage": "new"}, "forward": {"webhook": "legacy"}}, "stop": true}
            ]}
            """
        }

        @Test("a forward rule delivers one signed webhook (503 retried, same webhook-id); 410 disables the endpoint and later forwards are skipped", .timeLimit(.minutes(3)))
        func forwardDelivery() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            let receiver = try await ProcessWebhookReceiver()
            defer { receiver.stop() }
            let rulesPath = fixture.root.appendingPathComponent("rules.json").path
            try Data(Self.rules().utf8).write(to: URL(fileURLWithPath: rulesPath))
            func hook(_ id: String, _ path: String) -> [String: Any] {
                ["id": id, "url": receiver.base + path, "secret": ["value": ProcessWebhookReceiver.secret], "allow_private": true, "allow_insecure": true, "timeout_seconds": 5, "max_attempts": 5]
            }
            try fixture.writeConfig(fixture.configJSON(extraTopLevel: ["rules_file": rulesPath]) { org in
                org["outbound_webhooks"] = [hook("crm", "/flaky/1"), hook("legacy", "/status/410")]
            })
            let check = try await fixture.cli(["check"])
            #expect(check.exitedCleanly, "\(check.summary)")
            let daemon = try await fixture.startReady()

            func post(_ name: String) async throws -> String {
                let answer = try await fixture.postWebhook(body: DaemonFixture.payload(name: name, subject: "Hi"))
                try #require(answer.status == 202, "\(answer.body)")
                let id = try #require(answer.decode(AcceptedWebhook.self)).intake_id
                let stuck = try await fixture.waitUntilDone([id])
                #expect(stuck.isEmpty, "log:\n\(daemon.log)")
                _ = try await fixture.waitUntilQueueSettled()
                return id
            }

            let vip = try await post("VIP One")
            let plain = try await post("Alan")
            var log = try await receiver.log()
            let crm = log.filter { $0.path == "/flaky/1" }
            #expect(crm.map(\.status) == [503, 200], "one retry after 503, then delivered; log:\n\(daemon.log)")
            #expect(Set(crm.map(\.id)) == ["msg_\(vip)_crm"], "the same webhook-id on every attempt")
            #expect(crm.allSatisfy { $0.valid }, "signatures verify with the published algorithm")
            #expect(!log.contains { $0.body?.contains(plain) == true }, "no forward for an intake no rule forwards")
            // The body: type, timestamp, data {organization, intake, item, decision}.
            let body = try JSONSerialization.jsonObject(with: Data((crm.last?.body ?? "").utf8)) as? [String: Any]
            #expect(body?["type"] as? String == "intake.forwarded")
            let data = body?["data"] as? [String: Any]
            #expect((data?["intake"] as? [String: Any])?["id"] as? String == vip)
            #expect((data?["item"] as? [String: Any])?["title"] as? String == "VIP VIP One")
            #expect((data?["decision"] as? [String: Any])?["decidedBy"] as? String == "rule:vip")
            #expect(data?["organization"] as? String == "demo")

            // 410: the endpoint is disabled (dead letter with the reason), shown in /readyz, and
            // the next forward to it is skipped without a request.
            let first = try await post("Old One")
            let second = try await post("Old Two")
            log = try await receiver.log()
            let legacy = log.filter { $0.path == "/status/410" }
            #expect(legacy.map(\.id) == ["msg_\(first)_legacy"], "one request, none for \(second); log:\n\(daemon.log)")
            let ready = try await HTTP.request("GET", fixture.adminBase + "/readyz", timeout: 5)
            #expect(ready.status == 200, "a disabled endpoint does not fail readiness")
            #expect(ready.body.contains(#""endpoint":"legacy""#), "\(ready.body)")
            #expect(ready.body.contains("HTTP 410"), "\(ready.body)")
            #expect(daemon.log.contains("Outbound webhook endpoint disabled"), "\(daemon.log)")
            #expect(daemon.log.contains("Outbound webhook skipped: endpoint disabled"), "\(daemon.log)")
            let metrics = try await HTTP.request("GET", fixture.adminBase + "/metrics", timeout: 5)
            #expect(metrics.body.contains(#"astralisd_webhook_deliveries_total{endpoint="crm",outcome="delivered"} 1"#), "\(metrics.body)")
            #expect(metrics.body.contains(#"astralisd_webhook_deliveries_total{endpoint="legacy",outcome="skipped"} 1"#), "\(metrics.body)")
            try await fixture.stop(daemon)

            let listed = try await fixture.cli(["webhooks", "disabled"])
            #expect(listed.exitedCleanly && listed.stdout.contains("demo/legacy") && listed.stdout.contains("HTTP 410"), "\(listed.summary)")
            let enabled = try await fixture.cli(["webhooks", "enable", "demo", "legacy"])
            #expect(enabled.exitedCleanly && enabled.stdout.contains("enabled demo/legacy"), "\(enabled.summary)")
            let none = try await fixture.cli(["webhooks", "disabled"])
            #expect(none.stdout.contains("no disabled endpoints"), "\(none.summary)")

            // A restart delivers nothing again: the delivered job is done.
            let again = try await fixture.startReady()
            _ = try await fixture.waitUntilQueueSettled()
            try await Task.sleep(for: .milliseconds(500))
            try await fixture.stop(again)
            #expect(try await receiver.log().count == log.count)
        }

        @Test("check refuses a bad outbound webhook URL and secret", .timeLimit(.minutes(1)))
        func checkReportsBadEndpoints() async throws {
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            try fixture.writeConfig(fixture.configJSON { org in
                org["outbound_webhooks"] = [
                    ["id": "plain", "url": "http://crm.example/in"],
                    ["id": "creds", "url": "https://user:pw@crm.example/in"],
                    ["id": "badkey", "url": "https://crm.example/in", "secret": ["value": "whsec_???"]],
                ]
            })
            let check = try await fixture.cli(["check"])
            #expect(check.status == 1, "\(check.summary)")
            #expect(check.stderr.contains(#"organizations[0].outbound_webhooks[0].url: expected an https:// URL (plain http needs "allow_insecure": true)"#), "\(check.summary)")
            #expect(check.stderr.contains("organizations[0].outbound_webhooks[1].url: expected a URL without user information"), "\(check.summary)")
            try fixture.writeConfig(fixture.configJSON { org in
                org["outbound_webhooks"] = [["id": "badkey", "url": "https://crm.example/in", "secret": ["value": "whsec_???"]]]
            })
            let secret = try await fixture.cli(["check"])
            #expect(secret.status == 1 && secret.stderr.contains("organizations[0].outbound_webhooks[0].secret: expected whsec_ followed by base64 key bytes"), "\(secret.summary)")
        }
    }
}
