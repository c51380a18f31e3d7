import Core
import Foundation
import Inbound
import Logging
import Storage
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension DaemonProcessTests {
    /// The whole loop in the running daemon: a message APPENDed to Dovecot becomes an intake, the
    /// rules route it and ask for a reply, and the reply reaches the real SMTP server with the
    /// right threading headers; a list message and an auto-reply get none.
    @Suite(
        "Replies in the running daemon",
        .enabled(if: TestMailServer.shouldRun && TestSMTPServer.shouldRun, "needs the test IMAP and SMTP servers: run scripts/test.sh (or scripts/dovecot.sh and scripts/smtp.sh, sourcing both env files)"))
    struct Replies {
        @Test("IMAP → item → reply with In-Reply-To/References; list mail and auto-replies get none", .timeLimit(.minutes(2)))
        func wholeLoop() async throws {
            let imap = try TestMailServer.require()
            let smtp = try TestSMTPServer.require()
            let folder = "replies-\(UUID().uuidString.prefix(6))"
            let admin = try await imap.client()
            try await admin.create(folder: folder)

            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            let rules = fixture.root.appendingPathComponent("rules.json")
            let rulesJSON: [String: Any] = [
                "version": 1,
                "templates": ["ack": [
                    "subject": "Re: {{subject}}",
                    "body": "Hello {{#message.from}}{{name}}{{/message.from}},\nwe have your message \"{{subject}}\".\n",
                    "html": "<p>We have your message <b>{{subject}}</b>.</p>",
                ]],
                "rules": [[
                    "id": "ack-mail",
                    "when": ["all": [["field": "source", "op": "equals", "value": "mail"]]],
                    "then": ["reply": ["template": "ack"]],
                ] as [String: Any]],
            ]
            try JSONSerialization.data(withJSONObject: rulesJSON).write(to: rules)
            let account = smtp.account(id: "support")
            try fixture.writeConfig(fixture.configJSON(extraTopLevel: [
                "rules_file": rules.path,
                "smtp_accounts": [[
                    "id": "support", "host": "127.0.0.1", "port": account.port, "tls": "starttls", "ca_file": smtp.caFile,
                    "username": smtp.user, "password": ["value": smtp.password], "auth": "login",
                    "from_address": "support@acme.example", "from_name": "Acme Support", "message_id_domain": "acme.example",
                ] as [String: Any]],
            ]) { org in
                org["sources"] = [imap.source(id: "mail", folder: folder, processed: ["action": "flag", "flag": "$Replied"])]
                org["reply_account"] = "support"
            })
            let daemon = try await fixture.startReady()
            // libcurl is opened by the first send, not at start-up (Sources/CCurl/shim.h).
            #expect(try !Self.mapsLibcurl(daemon.pid), "libcurl is mapped before any mail was sent")

            let customer = TestSMTPServer.recipient()
            let list = TestSMTPServer.recipient()
            let robot = TestSMTPServer.recipient()
            let parentID = "\(UUID().uuidString)@customer.example"
            try await admin.append(Data("""
                From: Ada Lovelace <\(customer)>\r
                To: support@acme.example\r
                Subject: Re: Aw: Where is order 42?\r
                Message-ID: <\(parentID)>\r
                In-Reply-To: <first-\(parentID)>\r
                References: <root-\(parentID)> <first-\(parentID)>\r
                Date: Tue, 01 Dec 2026 10:00:00 +0000\r
                \r
                Hello, where is my order?\r

                """.utf8), to: folder)
            try await admin.append(Data("From: News <\(list)>\r\nTo: support@acme.example\r\nSubject: Weekly news\r\nList-Id: <news.customer.example>\r\nMessage-ID: <list-\(parentID)>\r\n\r\nnews\r\n".utf8), to: folder)
            try await admin.append(Data("From: Bob <\(robot)>\r\nTo: support@acme.example\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <ooo-\(parentID)>\r\n\r\naway\r\n".utf8), to: folder)

            let received = try await smtp.waitForMessages(to: customer, timeout: .seconds(30))
            try #require(received.count == 1, "the customer got a reply\nlog:\n\(daemon.log)")
            let text = received[0].text.replacingOccurrences(of: "\r\n\t", with: " ").replacingOccurrences(of: "\r\n ", with: " ")
            #expect(text.contains("\r\nIn-Reply-To: <\(parentID)>\r\n"))
            #expect(text.contains("\r\nReferences: <root-\(parentID)> <first-\(parentID)> <\(parentID)>\r\n"))
            #expect(text.contains("\r\nAuto-Submitted: auto-replied\r\n"))
            #expect(text.contains("\r\nSubject: Re: Where is order 42?\r\n"))
            #expect(text.contains("\r\nTo: Ada Lovelace <\(customer)>\r\n"))
            #expect(text.contains("From: Acme Support <support@acme.example>"))
            #expect(received[0].envelope["auth_user"] as? String == smtp.user)
            #expect(try Self.mapsLibcurl(daemon.pid), "the reply was sent, so libcurl is loaded")

            // All three intakes are processed and their reply jobs have run.
            let store = try SQLiteStore(path: fixture.stateDir + "/astralisd.sqlite", logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            let deadline = ContinuousClock.now + .seconds(20)
            var records: [ReplyRecord] = []
            while ContinuousClock.now < deadline {
                records = try await store.recentReplies(limit: 10)
                if records.count == 3, !records.contains(where: { $0.state == .sending || $0.state == .deferred }) { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            let byRecipient = Dictionary(records.map { ($0.recipient, $0) }, uniquingKeysWith: { a, _ in a })
            #expect(byRecipient[customer]?.state == .sent)
            #expect(byRecipient[list]?.state == .suppressed)
            #expect(byRecipient[list]?.reason?.contains("List-Id") == true)
            #expect(byRecipient[robot]?.state == .suppressed)
            #expect(byRecipient[robot]?.reason?.contains("Auto-Submitted") == true)
            #expect(try await store.counts().items == 3)
            try await Task.sleep(for: .seconds(1))
            #expect(smtp.received(to: list).isEmpty)
            #expect(smtp.received(to: robot).isEmpty)
            #expect(smtp.received(to: customer).count == 1, "exactly one reply")

            let metrics = try await HTTP.request("GET", fixture.adminBase + "/metrics", timeout: 2).body
            #expect(metrics.contains(#"astralisd_replies_total{outcome="sent"} 1"#), "\(metrics)")
            #expect(metrics.contains(#"astralisd_replies_total{outcome="suppressed"} 2"#))
            try await fixture.stop(daemon)
            _ = try await admin.select("INBOX")
            try await admin.delete(folder: folder)
            await admin.shutdown()
        }

        /// Whether the process maps a libcurl. /proc files report size 0, so they are read to EOF.
        static func mapsLibcurl(_ pid: pid_t) throws -> Bool {
            let file = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/\(pid)/maps"))
            defer { try? file.close() }
            let maps = String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
            guard maps.contains("r-xp") else { throw HarnessError("/proc/\(pid)/maps read as \(maps.utf8.count) bytes") }
            return maps.contains("/libcurl")
        }
    }

    /// Killed with SIGKILL right after the SMTP server accepted a reply, before `sent` was
    /// recorded: the restarted daemon finds the `sending` record and does not send again.
    @Suite("Reply crash safety", .enabled(if: TestSMTPServer.shouldRun, TestSMTPServer.skipReason))
    struct ReplyCrash {
        @Test("crash between send and record: one message, record unconfirmed", .timeLimit(.minutes(1)))
        func crashAfterSend() async throws {
            let smtp = try TestSMTPServer.require()
            let fixture = try DaemonFixture()
            defer { fixture.cleanUp() }
            let rules = fixture.root.appendingPathComponent("rules.json")
            try JSONSerialization.data(withJSONObject: [
                "version": 1,
                "templates": ["ack": ["subject": "", "body": "Thanks.\n"]],
                "rules": [["id": "ack", "when": ["all": [["field": "source", "op": "equals", "value": "drop"]]], "then": ["reply": ["template": "ack"]]] as [String: Any]],
            ] as [String: Any]).write(to: rules)
            let spool = fixture.root.appendingPathComponent("spool").path
            try fixture.writeConfig(fixture.configJSON(extraTopLevel: [
                "rules_file": rules.path,
                "smtp_accounts": [[
                    "id": "support", "host": "127.0.0.1", "port": smtp.port, "tls": "starttls", "ca_file": smtp.caFile,
                    "username": smtp.user, "password": ["value": smtp.password], "from_address": "support@acme.example",
                ] as [String: Any]],
            ]) { org in
                org["sources"] = [["id": "drop", "type": "spool", "path": spool, "poll_interval_ms": 50] as [String: Any]]
                org["reply_account"] = "support"
            })
            let first = try fixture.start(environment: ["ASTRALISD_TEST_CRASH_POINT": "after-reply-send"])
            try await fixture.waitUntilReady(first)
            let customer = TestSMTPServer.recipient()
            try Data("From: <\(customer)>\r\nSubject: Order 7\r\nMessage-ID: <\(UUID().uuidString)@customer.example>\r\n\r\nhi\r\n".utf8)
                .write(to: URL(fileURLWithPath: spool + "/order.eml.tmp"))
            try FileManager.default.moveItem(atPath: spool + "/order.eml.tmp", toPath: spool + "/order.eml")
            let death = await first.waitForExit(timeout: .seconds(20))
            #expect(death?.reason == .uncaughtSignal && death?.status == SIGKILL, "expected death by SIGKILL after the send; got \(String(describing: death))\nlog:\n\(first.log)")
            #expect(try await smtp.waitForMessages(to: customer).count == 1)

            let second = try await fixture.startReady()
            let store = try SQLiteStore(path: fixture.stateDir + "/astralisd.sqlite", logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            let deadline = ContinuousClock.now + .seconds(25)
            var record: ReplyRecord?
            while ContinuousClock.now < deadline {
                record = try await store.recentReplies(limit: 1).first
                if record?.state == .unconfirmed { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(record?.state == .unconfirmed, "\(String(describing: record))\nlog:\n\(second.log)")
            #expect(record?.recipient == customer)
            try await Task.sleep(for: .seconds(1))
            #expect(smtp.received(to: customer).count == 1, "not sent a second time")
            #expect(await second.waitForLog("Email delivery unconfirmed; not sending again"))
            try await fixture.stop(second)
        }
    }
}
