import Core
import Foundation
import Inbound
import Logging
import Storage
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The Dovecot of `scripts/dovecot.sh` (`ASTRALISD_TEST_IMAP_*`); required in CI, else skipped.
/// These tests log in as the second test user: the Inbound suite kicks the first user's sessions
/// and may run at the same time.
struct TestMailServer {
    var port: Int
    var caFile: String
    var user: String
    var password: String

    static let environment = ProcessInfo.processInfo.environment
    static let shouldRun = environment["ASTRALISD_TEST_IMAP_PORT"] != nil || environment["CI"] == "true"

    static func require() throws -> TestMailServer {
        guard let port = environment["ASTRALISD_TEST_IMAP_PORT"].flatMap(Int.init), let caFile = environment["ASTRALISD_TEST_IMAP_CA_FILE"],
              let user = environment["ASTRALISD_TEST_IMAP_USER2"], let password = environment["ASTRALISD_TEST_IMAP_PASSWORD2"] else {
            throw HarnessError("ASTRALISD_TEST_IMAP_* is not set: run scripts/test.sh, or scripts/dovecot.sh start DIR and source DIR/env")
        }
        return TestMailServer(port: port, caFile: caFile, user: user, password: password)
    }

    /// An `imap` source object for the daemon's config.
    func source(id: String, folder: String, processed: [String: Any], password: String? = nil, unhealthyAfter: Int = 900) -> [String: Any] {
        [
            "id": id, "type": "imap", "host": "127.0.0.1", "port": port, "tls": "starttls", "ca_file": caFile,
            "username": user, "password": ["value": password ?? self.password], "folders": [folder],
            "poll_interval_seconds": 1, "idle": true, "processed": processed, "unhealthy_after_seconds": unhealthyAfter,
            "timeout_seconds": 10,
        ]
    }

    func client() async throws -> IMAPClient {
        let settings = IMAPSourceSettings(
            host: "127.0.0.1", port: port, tls: .starttls, caFile: caFile, username: user, credential: .password(.value(password)))
        let password = self.password
        let client = IMAPClient(settings: settings, secret: { password })
        try await client.connect()
        return client
    }
}

extension DaemonProcessTests {
    @Suite("Mailboxes in the running daemon", .enabled(if: TestMailServer.shouldRun, "no test IMAP server: run scripts/test.sh, or scripts/dovecot.sh start DIR and source DIR/env"))
    struct Mailboxes {
        static let crashPoints = ["after-imap-fetch", "after-imap-intake", "after-imap-action"]

        /// Killed with SIGKILL at each step of taking a message, restarted: exactly one intake and
        /// exactly one processed action (a move: the message is in the target folder once).
        /// `streamed`: the message is above `stream_threshold_bytes`, so it takes the streaming
        /// path (pieces into a blob, parsed from the file); `after-imap-fetch` then fires once the
        /// streamed blob is durable.
        @Test("IMAP crash matrix: one intake, one move", .timeLimit(.minutes(2)), arguments: crashPoints, [false, true])
        func crashMatrix(point: String, streamed: Bool) async throws {
            let server = try TestMailServer.require()
            let folder = "crash-\(point)-\(UUID().uuidString.prefix(6))"
            let target = folder + "-done"
            let admin = try await server.client()
            try await admin.create(folder: folder)
            try await admin.create(folder: target)
            let body = streamed ? String(repeating: "streamed body line\r\n", count: 200) : "body\r\n"
            try await admin.append(Data("From: a@example.com\r\nSubject: crash \(point)\r\nMessage-ID: <\(UUID().uuidString)@example.com>\r\n\r\n\(body)".utf8), to: folder)

            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            var source = server.source(id: "mail", folder: folder, processed: ["action": "move", "folder": target])
            if streamed { source["stream_threshold_bytes"] = 1024 }
            try fixture.writeConfig(fixture.configJSON { org in org["sources"] = [source] })
            let hooks = ["ASTRALISD_TEST_MAILBOX_LEASE_SECONDS": "2"]
            let first = try fixture.start(environment: hooks.merging(["ASTRALISD_TEST_CRASH_POINT": point]) { $1 })
            let death = await first.waitForExit(timeout: .seconds(20))
            #expect(death?.reason == .uncaughtSignal && death?.status == SIGKILL, "expected death by SIGKILL at \(point); got \(String(describing: death))\nlog:\n\(first.log)")
            try #require(death != nil, "astralisd did not die at \(point)")

            #expect(first.log.contains("Mailbox message streamed to the blob store") == streamed, "streamed: \(streamed)\nlog:\n\(first.log)")
            let second = try await fixture.startReady(environment: hooks)
            let deadline = ContinuousClock.now + .seconds(20)
            var sourceCount = -1
            var targetCount = -1
            while ContinuousClock.now < deadline {
                _ = try await admin.select(folder)
                sourceCount = try await admin.messages(after: 0).count
                _ = try await admin.select(target)
                targetCount = try await admin.messages(after: 0).count
                if sourceCount == 0 && targetCount >= 1 { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            // The message is parsed and routed: wait for its item.
            let store = try SQLiteStore(path: fixture.stateDir + "/astralisd.sqlite", logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            while ContinuousClock.now < deadline, try await store.counts().items < 1 {
                try await Task.sleep(for: .milliseconds(200))
            }
            // A little longer, to catch a second ingest or move if there were going to be one.
            try await Task.sleep(for: .seconds(2))
            try await fixture.stop(second)
            _ = try await admin.select(target)
            #expect(try await admin.messages(after: 0).count == 1, "exactly one processed action (one moved copy) after \(point)\nlog:\n\(second.log)")
            _ = try await admin.select(folder)
            #expect(try await admin.messages(after: 0).isEmpty)

            let counts = try await store.counts()
            let intakes = counts.intakesByStatus.values.reduce(0, +)
            #expect(intakes == 1, "exactly one intake after a crash at \(point)")
            #expect(counts.items == 1, "exactly one item after a crash at \(point)\nlog:\n\(second.log)")
            #expect(counts.intakesByStatus["done"] == 1, "the intake was routed to done: \(counts.intakesByStatus)")
            // Dovecot disconnects a client whose selected folder is deleted.
            _ = try await admin.select("INBOX")
            try await admin.delete(folder: folder)
            try await admin.delete(folder: target)
            await admin.shutdown()
        }

        /// Peak memory while a 40 MB message (a 29 MB attachment) is fetched, committed and
        /// routed: with the default `stream_threshold_bytes` the daemon's VmHWM grows by well under
        /// the message's size; with the threshold above the message (the whole-message path) it
        /// grows by more than the message's size — so the bound is one the in-memory path fails.
        @Test("large message: bounded peak memory when streamed", .timeLimit(.minutes(5)), arguments: [nil, 1 << 30] as [Int?])
        func largeMessagePeakMemory(threshold: Int?) async throws {
            let server = try TestMailServer.require()
            let folder = "rss-\(threshold == nil ? "stream" : "whole")-\(UUID().uuidString.prefix(6))"
            let admin = try await server.client()
            try await admin.create(folder: folder)
            let message = Self.largeMessage(attachmentBytes: 29 << 20)

            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            var source = server.source(id: "mail", folder: folder, processed: ["action": "flag", "flag": "\\Seen"])
            source["max_message_bytes"] = 64 << 20
            if let threshold { source["stream_threshold_bytes"] = threshold }
            try fixture.writeConfig(fixture.configJSON { org in org["sources"] = [source] })
            let daemon = try await fixture.startReady()
            // Settled after start-up (connected, idling on the empty folder).
            try await Task.sleep(for: .seconds(2))
            let before = try Self.peakRSS(daemon.pid)
            try await admin.append(message, to: folder)
            let store = try SQLiteStore(path: fixture.stateDir + "/astralisd.sqlite", logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            let deadline = ContinuousClock.now + .seconds(180)
            while ContinuousClock.now < deadline, try await store.counts().items < 1 {
                try await Task.sleep(for: .milliseconds(250))
            }
            #expect(try await store.counts().items == 1, "the message was routed\nlog:\n\(daemon.log)")
            let after = try Self.peakRSS(daemon.pid)
            try await fixture.stop(daemon)
            let growth = after - before
            let report = "VmHWM \(before / 1024) KiB → \(after / 1024) KiB (+\(growth / 1024) KiB) for a \(message.count / 1024) KiB message, threshold \(threshold.map(String.init) ?? "default")"
            print("astralisd peak memory: \(report)")
            if threshold == nil {
                #expect(growth < message.count / 2, "\(report)")
            } else {
                #expect(growth > message.count, "\(report)")
            }
            _ = try await admin.select("INBOX")
            try await admin.delete(folder: folder)
            await admin.shutdown()
        }

        /// The process's peak resident set (VmHWM) in bytes.
        static func peakRSS(_ pid: pid_t) throws -> Int {
            let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
                  let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else {
                throw HarnessError("no VmHWM in /proc/\(pid)/status")
            }
            return kib * 1024
        }

        /// A message with one base64 attachment of `attachmentBytes` incompressible bytes.
        static func largeMessage(attachmentBytes: Int) -> Data {
            var state: UInt64 = 0x2545_F491_4F6C_DD1D
            var payload = Data(count: attachmentBytes)
            payload.withUnsafeMutableBytes { buffer in
                for index in 0..<buffer.count {
                    state ^= state << 13
                    state ^= state >> 7
                    state ^= state << 17
                    buffer[index] = UInt8(truncatingIfNeeded: state)
                }
            }
            var raw = Data("""
                From: Scanner <scanner@example.com>\r
                To: inbox@example.com\r
                Subject: large scan\r
                Message-ID: <\(UUID().uuidString)@example.com>\r
                MIME-Version: 1.0\r
                Content-Type: multipart/mixed; boundary="=-b-="\r
                \r
                --=-b-=\r
                Content-Type: text/plain\r
                \r
                Scan attached.\r
                --=-b-=\r
                Content-Type: application/pdf; name="scan.pdf"\r
                Content-Disposition: attachment; filename="scan.pdf"\r
                Content-Transfer-Encoding: base64\r
                \r

                """.utf8)
            raw += Data(payload.base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed]).utf8)
            raw += Data("\r\n--=-b-=--\r\n".utf8)
            return raw
        }

        /// `/readyz` and `/metrics` show each mailbox; one that cannot log in fails readiness once
        /// `unhealthy_after_seconds` has passed.
        @Test("mailbox health in /readyz and /metrics", .timeLimit(.minutes(1)))
        func healthInReadinessAndMetrics() async throws {
            let server = try TestMailServer.require()
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            try fixture.writeConfig(fixture.configJSON { org in
                org["sources"] = [
                    server.source(id: "good", folder: "INBOX", processed: ["action": "flag", "flag": "$HealthTest"]),
                    server.source(id: "bad", folder: "INBOX", processed: ["action": "flag"], password: "wrong-password", unhealthyAfter: 10),
                ]
            })
            let daemon = try await fixture.startReady()
            var sawUnready = false
            var body = ""
            let deadline = ContinuousClock.now + .seconds(25)
            while ContinuousClock.now < deadline {
                let answer = try await HTTP.request("GET", fixture.adminBase + "/readyz", timeout: 2)
                body = answer.body
                if answer.status == 503 { sawUnready = true; break }
                try await Task.sleep(for: .milliseconds(250))
            }
            #expect(sawUnready, "readyz should fail once the bad mailbox is past unhealthy_after: \(body)")
            let readiness = try #require(try? JSONValue.parse(Data(body.utf8)))
            let sources = readiness["checks"]?["sources"]
            #expect(sources?["failing"]?.arrayValue == [.string("bad/INBOX")])
            let boxes = sources?["mailboxes"]?.arrayValue ?? []
            let good = boxes.first { $0["source"]?.stringValue == "good" }
            let bad = boxes.first { $0["source"]?.stringValue == "bad" }
            #expect(good?["ok"] == .bool(true))
            #expect(good?["state"]?.stringValue == "idle")
            #expect(bad?["ok"] == .bool(false))
            var failures = 0.0
            if case .number(let count)? = bad?["consecutive_failures"] { failures = count }
            #expect(failures >= 2)
            #expect(bad?["last_error"]?.stringValue?.contains("wrong-password") == false)

            let metrics = try await HTTP.request("GET", fixture.adminBase + "/metrics", timeout: 2).body
            #expect(metrics.contains(#"astralisd_mailbox_healthy{source="good",folder="INBOX"} 1"#), "\(metrics)")
            #expect(metrics.contains(#"astralisd_mailbox_healthy{source="bad",folder="INBOX"} 0"#))
            #expect(metrics.contains(#"astralisd_mailbox_failures_total{source="bad",folder="INBOX",kind="authentication"}"#))
            #expect(await daemon.waitForLog("Mailbox cannot sync; unhealthy"))
            try await fixture.stop(daemon)
        }
    }
}
