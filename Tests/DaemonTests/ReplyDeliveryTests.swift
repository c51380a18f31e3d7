@testable import Daemon
import Actions
import Core
import Foundation
import Inbound
import Logging
import Mail
import Storage
import Testing

/// The `reply.send` job against a real store and the real SMTP server: exactly once, retries,
/// dead letters, suppression, reconciliation of an attempt that never learned its answer.
@Suite("Reply delivery (reply.send)", .enabled(if: TestSMTPServer.shouldRun, TestSMTPServer.skipReason), .serialized)
struct ReplyDeliveryTests {
    final class Fixture {
        let directory: URL
        let store: SQLiteStore
        let blobs: TieredBlobStore
        let committer: IntakeCommitter
        let server: TestSMTPServer
        let sender = SMTPSender(threads: 2)
        let config: SharedValue<DaemonConfig>
        let metrics = DaemonMetrics()

        init(rateLimit: ReplyRateLimit = ReplyRateLimit(maxPerRecipient: 100, period: 3600)) throws {
            server = try TestSMTPServer.require()
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("astralisd-replies-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
            store = try SQLiteStore(path: directory.appendingPathComponent("db.sqlite").path, logger: logger)
            blobs = TieredBlobStore(small: SQLiteBlobStore(store: store), large: try FileBlobStore(root: directory.appendingPathComponent("blobs").path))
            committer = IntakeCommitter(store: store, blobs: blobs, maxBatch: 16, logger: logger)
            var account = server.account(id: "support")
            account.rateLimit = rateLimit
            let route = Route(pipeline: "support", stage: "open", titleTemplate: "{{subject}}")
            var org = OrganizationConfig(
                id: "acme", name: "Acme", pipelines: [Pipeline(id: "support", organization: "acme", name: "Support", stages: [Stage(id: "open", name: "Open")])],
                sources: [], defaultRoute: route)
            org.replyAccount = "support"
            var config = DaemonConfig(
                stateDir: directory.path, webhookListen: ListenAddress(host: "127.0.0.1", port: 1), adminListen: ListenAddress(host: "127.0.0.1", port: 2),
                workers: WorkerConfig(), shutdownGrace: 1, logLevel: "info", intakeBatchSize: 16, organizations: [org])
            config.smtpAccounts = [account]
            self.config = SharedValue(config)
        }

        deinit { try? FileManager.default.removeItem(at: directory) }

        var delivery: ReplyDelivery {
            let config = self.config
            return ReplyDelivery(
                store: store, blobs: blobs, sender: sender, renderer: ReplyRenderer(), config: { config.value },
                secrets: { try SecretResolver(environment: [:]).resolve($0) }, clock: SystemWallClock(), metrics: metrics,
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        }

        /// Records an email intake from `from` (extra header lines allowed) and returns its id.
        func mail(from: String, subject: String = "Order 42", headers: String = "") async throws -> (intake: String, messageID: String) {
            let id = "\(UUID().uuidString.prefix(12))@customer.example"
            let raw = Data("From: Ada <\(from)>\r\nTo: support@acme.example\r\nSubject: \(subject)\r\nMessage-ID: <\(id)>\r\nReferences: <root-\(id)>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n\(headers)\r\nHello, where is my order?\r\n".utf8)
            let pending = MailIntake.pending(raw: raw, organization: "acme", source: "mail", sourceKind: .spool)
            let result = try await committer.submit(pending)
            return (result.intake.id, id)
        }

        static let request = ReplyRequest(
            template: "ack", subjectTemplate: "", bodyTemplate: "Hello {{#message.from}}{{name}}{{/message.from}}, we got \"{{subject}}\".\n",
            rule: "ack-all", htmlTemplate: "<p>We got <b>{{subject}}</b></p>")

        func job(_ intake: String, attempts: Int = 1) -> Job {
            let new = ReplyDelivery.job(intakeID: intake, reply: Self.request)
            return Job(id: new.id, kind: new.kind, payload: new.payload, state: .leased, attempts: attempts, maxAttempts: 8, runAt: Date(),
                       leaseOwner: "test", leaseExpiresAt: nil, lastError: nil, createdAt: Date(), updatedAt: Date())
        }

        func run(_ intake: String) async throws -> JobCompletion {
            try await delivery.run(job(intake), claim: JobClaim(jobID: "j", owner: "test"))
        }

        func record(_ intake: String) async throws -> ReplyRecord? {
            try await store.reply(id: ReplyRecord.key(intakeID: intake, template: "ack"))
        }
    }

    @Test("sent once with threading headers; a second run sends nothing")
    func exactlyOnce() async throws {
        let fixture = try Fixture()
        let to = TestSMTPServer.recipient()
        let (intake, parentID) = try await fixture.mail(from: to, subject: "Aw: Re: Order <42> & more")
        _ = try await fixture.run(intake)
        _ = try await fixture.run(intake)
        let received = try await fixture.server.waitForMessages(to: to)
        try await Task.sleep(for: .milliseconds(300))
        #expect(fixture.server.received(to: to).count == 1, "exactly one reply")
        let record = try #require(try await fixture.record(intake))
        #expect(record.state == .sent)
        #expect(record.attempts == 1)
        #expect(record.recipient == to)
        #expect(record.serverReply?.hasPrefix("250 2.0.0 OK queued as") == true)
        #expect(record.sentAt != nil)
        let text = try #require(received.first?.text).replacingOccurrences(of: "\r\n\t", with: " ").replacingOccurrences(of: "\r\n ", with: " ")
        #expect(text.contains("\r\nIn-Reply-To: <\(parentID)>\r\n"))
        #expect(text.contains("\r\nReferences: <root-\(parentID)> <\(parentID)>\r\n"))
        #expect(text.contains("\r\nAuto-Submitted: auto-replied\r\n"))
        #expect(text.contains("<\(record.messageID)>"))
        #expect(record.messageID.hasSuffix("@acme.example"))
        let parsed = try MessageParser().parse(try #require(received.first?.raw)).message
        #expect(parsed.subject == "Re: Order <42> & more")
        #expect(parsed.to.map(\.address) == [to])
        #expect(parsed.text?.contains("Hello Ada, we got \"Aw: Re: Order <42> & more\".") == true)
        // The HTML alternative escapes the sender's text.
        #expect(text.contains("multipart/alternative"))
        #expect(text.contains("Order &lt;42&gt; &amp; more"))
    }

    @Test("server down: retried and delivered exactly once later, same Message-ID")
    func serverDownThenUp() async throws {
        let fixture = try Fixture()
        let to = TestSMTPServer.recipient()
        let (intake, _) = try await fixture.mail(from: to)
        let goodPort = fixture.config.value.smtpAccounts[0].port
        fixture.config.update { $0.smtpAccounts[0].port = (try? SMTPSenderPort.closed()) ?? 9 }
        await #expect(throws: SMTPSendError.self) { try await fixture.run(intake) }
        let deferred = try #require(try await fixture.record(intake))
        #expect(deferred.state == .deferred)
        #expect(deferred.attempts == 1)
        #expect(deferred.reason?.contains("SMTP connection failed") == true)

        fixture.config.update { $0.smtpAccounts[0].port = goodPort }
        _ = try await fixture.run(intake)
        let received = try await fixture.server.waitForMessages(to: to)
        #expect(received.count == 1)
        let sent = try #require(try await fixture.record(intake))
        #expect(sent.state == .sent)
        #expect(sent.attempts == 2)
        #expect(sent.messageID == deferred.messageID)
        #expect(received.first?.text.contains("<\(deferred.messageID)>") == true)
    }

    @Test("550: dead letter with the server's reply; the record is failed")
    func rejected() async throws {
        let fixture = try Fixture()
        let to = TestSMTPServer.recipient("reject-")
        let (intake, _) = try await fixture.mail(from: to)
        do {
            _ = try await fixture.run(intake)
            Issue.record("expected a permanent failure")
        } catch let error as PermanentJobError {
            #expect(error.reason.contains("550 5.1.1 <\(to)>: recipient rejected by the test server"), "\(error)")
        }
        let record = try #require(try await fixture.record(intake))
        #expect(record.state == .failed)
        #expect(record.serverReply == "550 5.1.1 <\(to)>: recipient rejected by the test server")
        // Running it again (an operator retry of the dead letter) sends nothing.
        #expect(try await fixture.run(intake) == .finished)
    }

    @Test("451: retried (normal error), record deferred")
    func deferred() async throws {
        let fixture = try Fixture()
        let to = TestSMTPServer.recipient("defer-")
        let (intake, _) = try await fixture.mail(from: to)
        await #expect(throws: SMTPSendError.self) { try await fixture.run(intake) }
        let record = try #require(try await fixture.record(intake))
        #expect(record.state == .deferred)
        #expect(record.serverReply?.hasPrefix("451 4.3.0") == true)
    }

    @Test("a `sending` record (crash between send and record) is not sent again: unconfirmed")
    func reconcileUnconfirmed() async throws {
        let fixture = try Fixture()
        let to = TestSMTPServer.recipient()
        let (intake, _) = try await fixture.mail(from: to)
        let now = Date()
        _ = try await fixture.store.insertReply(ReplyRecord(
            id: ReplyRecord.key(intakeID: intake, template: "ack"), intakeID: intake, organization: "acme", template: "ack", account: "support",
            recipient: to, messageID: "crashed-1@acme.example", state: .sending, attempts: 1, createdAt: now, updatedAt: now))
        #expect(try await fixture.run(intake) == .finished)
        try await Task.sleep(for: .milliseconds(300))
        #expect(fixture.server.received(to: to).isEmpty)
        let record = try #require(try await fixture.record(intake))
        #expect(record.state == .unconfirmed)
        #expect(record.reason?.contains("not sent again") == true)
    }

    @Test("list mail, auto-replies and bounces are suppressed with the reason", arguments: [
        ("List-Id: <news.customer.example>\r\n", "List-Id"),
        ("Auto-Submitted: auto-replied\r\n", "Auto-Submitted"),
        ("Precedence: bulk\r\n", "Precedence: bulk"),
        ("Return-Path: <>\r\n", "empty return path"),
    ])
    func suppressed(headers: String, reason: String) async throws {
        let fixture = try Fixture()
        let to = TestSMTPServer.recipient()
        let (intake, _) = try await fixture.mail(from: to, headers: headers)
        #expect(try await fixture.run(intake) == .finished)
        let record = try #require(try await fixture.record(intake))
        #expect(record.state == .suppressed)
        #expect(record.reason?.contains(reason) == true, "\(record.reason ?? "")")
        try await Task.sleep(for: .milliseconds(200))
        #expect(fixture.server.received(to: to).isEmpty)
    }

    @Test("our own address and the per-recipient rate limit")
    func ownAddressAndRateLimit() async throws {
        let fixture = try Fixture(rateLimit: ReplyRateLimit(maxPerRecipient: 2, period: 3600))
        let own = try await fixture.mail(from: "support@acme.example")
        _ = try await fixture.run(own.intake)
        #expect(try await fixture.record(own.intake)?.state == .suppressed)

        let to = TestSMTPServer.recipient()
        var states: [ReplyState] = []
        for _ in 0..<3 {
            let (intake, _) = try await fixture.mail(from: to)
            _ = try await fixture.run(intake)
            states.append(try await fixture.record(intake)?.state ?? .failed)
        }
        #expect(states == [.sent, .sent, .suppressed])
        _ = try await fixture.server.waitForMessages(to: to, count: 2)
        try await Task.sleep(for: .milliseconds(300))
        #expect(fixture.server.received(to: to).count == 2)
    }

    @Test("the reply job id is deterministic: queued once with the decision")
    func deterministicJob() {
        let a = ReplyDelivery.job(intakeID: "in_1", reply: Fixture.request)
        let b = ReplyDelivery.job(intakeID: "in_1", reply: Fixture.request)
        #expect(a.id == b.id)
        #expect(a.kind == "reply.send")
        #expect(a.payload["reply"]?["htmlTemplate"]?.stringValue == Fixture.request.htmlTemplate)
    }
}

/// A loopback port nobody listens on.
enum SMTPSenderPort {
    static func closed() throws -> Int {
        let ports = try freeLoopbackPorts(1)
        return ports[0]
    }
}
