import Core
import Foundation
import Inbound
import Logging
import Mail
import Storage
import Synchronization
import Testing

/// Against the real Dovecot of `scripts/dovecot.sh`. Serialized: one test kicks the test user's
/// sessions, and all share that user's mailboxes (each test in folders of its own).
@Suite(.serialized, .enabled(if: IMAPTestServer.shouldRun, "no test IMAP server: run scripts/test.sh, or scripts/dovecot.sh start DIR and source DIR/env"))
struct IMAPTests {
    // MARK: Client

    @Test func clientAppendsFetchesAndFlagsOverSTARTTLS() async throws {
        let server = try IMAPTestServer.require()
        let folder = uniqueFolder("client")
        let client = try await server.client(server.settings(folder: folder))
        try await client.create(folder: folder)
        let message = testMessage("client test")
        try await client.append(message, to: folder)
        let selected = try await client.select(folder)
        #expect(selected.uidValidity > 0)
        let listed = try await client.messages(after: 0)
        #expect(listed.count == 1)
        let uid = try #require(listed.first).uid
        #expect(listed.first?.size == message.count)
        let body = try await client.body(uid: uid)
        #expect(body == message)
        // BODY.PEEK leaves the message unread.
        let seenBefore = try await client.hasFlag(uid: uid, "\\Seen")
        #expect(seenBefore == false)
        try await client.addFlag(uid: uid, "\\Seen")
        try await client.addFlag(uid: uid, "$Processed")
        let seen = try await client.hasFlag(uid: uid, "\\Seen")
        let keyword = try await client.hasFlag(uid: uid, "$Processed")
        #expect(seen == true && keyword == true)
        #expect(try await client.messages(after: uid).isEmpty)
        #expect(try await client.supportsIdle())
        try await client.delete(folder: folder)
        await client.shutdown()
    }

    @Test func nonASCIIFolderNames() async throws {
        let server = try IMAPTestServer.require()
        let folder = "Entwürfe-\(UUID().uuidString.prefix(6))"
        let settings = server.settings(folder: folder, processed: .move(folder + "-ü"), pollInterval: 1, idle: false)
        let admin = try await server.client(settings)
        try await admin.create(folder: folder)
        try await admin.create(folder: folder + "-ü")
        try await admin.append(testMessage("umlauts"), to: folder)
        let fixture = try PollerFixture()
        defer { fixture.cleanup() }
        let poller = fixture.poller(settings, folder: folder)
        try await fixture.running(poller) {
            try await fixture.expectEventually { try await fixture.store.sourceState(poller.stateKey)?.contains("\"lastUID\":1") == true }
        }
        #expect(try await fixture.intakeCount() == 1)
        _ = try await admin.select(folder + "-ü")
        #expect(try await admin.messages(after: 0).count == 1)
        _ = try await admin.select("INBOX")
        try await admin.delete(folder: folder)
        try await admin.delete(folder: folder + "-ü")
        await admin.shutdown()
    }

    @Test func implicitTLSWithTrustedCertificate() async throws {
        let server = try IMAPTestServer.require()
        let client = try await server.client(server.settings(folder: "INBOX", tls: .implicit))
        _ = try await client.select("INBOX")
        await client.shutdown()
    }

    @Test(arguments: [IMAPTLSMode.implicit, .starttls])
    func untrustedCertificateIsRefusedBeforeLogin(mode: IMAPTLSMode) async throws {
        let server = try IMAPTestServer.require()
        // The system trust store does not know the test server's self-signed certificate.
        let client = IMAPClient(settings: server.settings(folder: "INBOX", tls: mode, caFile: .some(nil)), secret: { server.password })
        let error = await #expect(throws: IMAPError.self) { try await client.connect() }
        #expect(error?.kind == .tls)
        await client.shutdown()
    }

    @Test func cleartextLoginIsRefusedUnlessAllowedOnLoopback() async throws {
        let server = try IMAPTestServer.require()
        let refused = IMAPClient(settings: server.settings(folder: "INBOX", tls: .none), secret: { server.password })
        let error = await #expect(throws: IMAPError.self) { try await refused.connect() }
        #expect(error?.kind == .insecure)
        await refused.shutdown()
        // Explicitly allowed on loopback (tests only): logs in on the plain port.
        let allowed = try await server.client(server.settings(folder: "INBOX", tls: .none, allowInsecure: true))
        _ = try await allowed.select("INBOX")
        await allowed.shutdown()
    }

    @Test func serverWithoutSTARTTLSIsAnError() async throws {
        let fake = try FakeIMAPServer()
        defer { fake.stop() }
        var settings = try IMAPTestServer.require().settings(folder: "INBOX", tls: .starttls)
        settings.port = fake.port
        let client = IMAPClient(settings: settings, secret: { "secret" })
        let error = await #expect(throws: IMAPError.self) { try await client.connect() }
        #expect(error?.kind == .tls)
        #expect(error?.detail.contains("does not offer STARTTLS") == true)
        #expect(fake.sawLogin == false)
        await client.shutdown()
    }

    @Test func xoauth2SendsTheBearerTokenAndRereadsItOnReconnect() async throws {
        let fake = try FakeIMAPServer(capabilities: "IMAP4rev1 AUTH=XOAUTH2 SASL-IR")
        defer { fake.stop() }
        let settings = IMAPSourceSettings(
            host: "127.0.0.1", port: fake.port, tls: .none, allowInsecure: true, username: "intake@example.com",
            credential: .xoauth2(.file("/unused")))
        let round = Atomic<Int>(0)
        let client = IMAPClient(settings: settings, secret: { "token-\(round.add(1, ordering: .relaxed).newValue)" })
        try await client.connect()
        try await client.connect()
        await client.shutdown()
        let lines = fake.authLines
        #expect(lines.count == 2)
        let tokens = lines.compactMap { line -> String? in
            guard let encoded = line.split(separator: " ").last, let data = Data(base64Encoded: String(encoded)) else { return nil }
            return String(decoding: data, as: UTF8.self)
        }
        #expect(lines.allSatisfy { $0.hasPrefix("XOAUTH2 ") })
        #expect(tokens == ["user=intake@example.com\u{1}auth=Bearer token-1\u{1}\u{1}", "user=intake@example.com\u{1}auth=Bearer token-2\u{1}\u{1}"])
    }

    @Test func hungServerTimesOut() async throws {
        let fake = try FakeIMAPServer(silent: true)
        defer { fake.stop() }
        var settings = try IMAPTestServer.require().settings(folder: "INBOX", tls: .starttls)
        settings.port = fake.port
        settings.timeout = 1
        let client = IMAPClient(settings: settings, secret: { "secret" })
        let started = ContinuousClock.now
        let error = await #expect(throws: IMAPError.self) { try await client.connect() }
        #expect(error?.kind == .connection)
        #expect(ContinuousClock.now - started < .seconds(5))
        await client.shutdown()
    }

    @Test func wrongPasswordIsAnAuthenticationError() async throws {
        let server = try IMAPTestServer.require()
        let client = IMAPClient(settings: server.settings(folder: "INBOX", password: "wrong"), secret: { "wrong" })
        let error = await #expect(throws: IMAPError.self) { try await client.connect() }
        #expect(error?.kind == .authentication)
        #expect(error.map { "\($0)" }?.contains("wrong") == false)
        await client.shutdown()
    }

    // MARK: Poller

    @Test(arguments: ["flag", "keyword", "move", "delete"])
    func appendedMessagesBecomeIntakesExactlyOnce(action: String) async throws {
        let server = try IMAPTestServer.require()
        let folder = uniqueFolder("poll-\(action)")
        let target = folder + "-done"
        let processed: IMAPProcessedAction = switch action {
        case "flag": .flag("\\Seen")
        case "keyword": .flag("$Astralis")
        case "move": .move(target)
        default: .delete
        }
        let settings = server.settings(folder: folder, processed: processed, pollInterval: 1, idle: false)
        let admin = try await server.client(settings)
        try await admin.create(folder: folder)
        if action == "move" { try await admin.create(folder: target) }
        for index in 0..<3 { try await admin.append(testMessage("message \(index)"), to: folder) }

        let fixture = try PollerFixture()
        defer { fixture.cleanup() }
        let poller = fixture.poller(settings, folder: folder)
        let selected = try await admin.select(folder)
        try await fixture.running(poller) {
            try await fixture.expectEventually { try await fixture.intakeCount() == 3 }
            // Two more while it runs.
            for index in 3..<5 { try await admin.append(testMessage("message \(index)"), to: folder) }
            try await fixture.expectEventually { try await fixture.intakeCount() == 5 }
            // Progress is stored only after the action; wait for it, then a few more polls.
            try await fixture.expectEventually {
                try await fixture.store.sourceState(poller.stateKey)?.contains("\"lastUID\":5") == true
            }
            try await Task.sleep(for: .seconds(2))
        }
        #expect(try await fixture.intakeCount() == 5)
        for uid in 1...5 {
            let intake = try await fixture.store.intake(organization: "demo", dedupeKey: "imap:mail:\(folder):\(selected.uidValidity):\(uid)")
            #expect(intake?.sourceKind == .imap)
            #expect(intake?.contentType == "message/rfc822")
            #expect(intake?.metadata["imap.uid"] == "\(uid)")
            #expect(intake?.metadata["message_id"]?.hasSuffix("@example.com") == true)
        }

        _ = try await admin.select(folder)
        switch action {
        case "flag", "keyword":
            let flag = action == "flag" ? "\\Seen" : "$Astralis"
            for uid in UInt32(1)...5 {
                let has = try await admin.hasFlag(uid: uid, flag)
                #expect(has == true, "uid \(uid) carries \(flag)")
            }
        case "move":
            #expect(try await admin.messages(after: 0).isEmpty)
            _ = try await admin.select(target)
            #expect(try await admin.messages(after: 0).count == 5)
        default:
            #expect(try await admin.messages(after: 0).isEmpty)
        }
        try await admin.delete(folder: folder)
        if action == "move" { try await admin.delete(folder: target) }
        await admin.shutdown()
    }

    @Test func idleDeliversWithoutWaitingForAPoll() async throws {
        let server = try IMAPTestServer.require()
        let folder = uniqueFolder("idle")
        let settings = server.settings(folder: folder, pollInterval: 3600, idle: true)
        let admin = try await server.client(settings)
        try await admin.create(folder: folder)
        let fixture = try PollerFixture()
        defer { fixture.cleanup() }
        try await fixture.running(fixture.poller(settings, folder: folder)) {
            try await fixture.expectEventually { fixture.health.snapshot(source: "mail", folder: folder)?.state == "idle" }
            let started = Date()
            try await admin.append(testMessage("while idle"), to: folder)
            try await fixture.expectEventually(5) { try await fixture.intakeCount() == 1 }
            #expect(Date().timeIntervalSince(started) < 3)
            try await fixture.expectEventually { fixture.health.snapshot(source: "mail", folder: folder)?.idleSince != nil }
        }
        try await admin.delete(folder: folder)
        await admin.shutdown()
    }

    @Test func droppedConnectionMidIdleReconnectsAndLosesNothing() async throws {
        let server = try IMAPTestServer.require()
        let folder = uniqueFolder("kick")
        let settings = server.settings(folder: folder, pollInterval: 3600, idle: true)
        let setup = try await server.client(settings)
        try await setup.create(folder: folder)
        await setup.shutdown()
        let fixture = try PollerFixture()
        defer { fixture.cleanup() }
        try await fixture.running(fixture.poller(settings, folder: folder)) {
            try await fixture.expectEventually { fixture.health.snapshot(source: "mail", folder: folder)?.state == "idle" }
            try server.kick()
            // Mail arriving while the poller is disconnected is found by the resync after reconnect.
            let admin = try await server.client(settings)
            try await admin.append(testMessage("during the outage"), to: folder)
            try await fixture.expectEventually(15) { try await fixture.intakeCount() == 1 }
            try await fixture.expectEventually { fixture.health.snapshot(source: "mail", folder: folder)?.state == "idle" }
            try await admin.append(testMessage("after reconnect"), to: folder)
            try await fixture.expectEventually(5) { try await fixture.intakeCount() == 2 }
            let failures = fixture.health.snapshot(source: "mail", folder: folder)?.consecutiveFailures
            #expect(failures == 0)
            try await admin.delete(folder: folder)
            await admin.shutdown()
        }
    }

    @Test func connectionsDroppedDuringSyncLoseNothingAndDoubleNothing() async throws {
        let server = try IMAPTestServer.require()
        let folder = uniqueFolder("drops")
        let settings = server.settings(folder: folder, pollInterval: 1, idle: false, maxMessageBytes: 4 << 20)
        let setup = try await server.client(settings)
        try await setup.create(folder: folder)
        let count = 15
        // Large enough that a kick often lands inside a FETCH.
        for index in 0..<count {
            try await setup.append(testMessage("bulk \(index)", body: String(repeating: "line of text \(index)\r\n", count: 20_000)), to: folder)
        }
        await setup.shutdown()
        let fixture = try PollerFixture()
        defer { fixture.cleanup() }
        let poller = fixture.poller(settings, folder: folder)
        try await fixture.running(poller) {
            for _ in 0..<20 {
                try server.kick()
                try await Task.sleep(for: .milliseconds(150))
            }
            try await fixture.expectEventually(30) {
                try await fixture.store.sourceState(poller.stateKey)?.contains("\"lastUID\":\(count)") == true
            }
        }
        #expect(try await fixture.intakeCount() == count)
        let admin = try await server.client(settings)
        _ = try await admin.select(folder)
        for uid in UInt32(1)...UInt32(count) {
            let seen = try await admin.hasFlag(uid: uid, "\\Seen")
            #expect(seen == true, "uid \(uid)")
        }
        _ = try await admin.select("INBOX")
        try await admin.delete(folder: folder)
        await admin.shutdown()
    }

    @Test func uidValidityChangeIngestsNewMailOnly() async throws {
        let server = try IMAPTestServer.require()
        let folder = uniqueFolder("uidvalidity")
        let settings = server.settings(folder: folder, pollInterval: 1, idle: false)
        let admin = try await server.client(settings)
        try await admin.create(folder: folder)
        let old = [testMessage("old 1"), testMessage("old 2")]
        for message in old { try await admin.append(message, to: folder) }
        let firstValidity = try await admin.select(folder).uidValidity

        let fixture = try PollerFixture()
        defer { fixture.cleanup() }
        try await fixture.running(fixture.poller(settings, folder: folder)) {
            try await fixture.expectEventually { try await fixture.intakeCount() == 2 }
        }
        // The folder is recreated: same old mail (say, restored from a backup) plus one new message.
        _ = try await admin.select("INBOX")
        try await admin.delete(folder: folder)
        try await Task.sleep(for: .seconds(1.1)) // UIDVALIDITY is time-based in Dovecot.
        try await admin.create(folder: folder)
        for message in old { try await admin.append(message, to: folder) }
        try await admin.append(testMessage("new"), to: folder)
        let secondValidity = try await admin.select(folder).uidValidity
        #expect(secondValidity != firstValidity)

        let poller = fixture.poller(settings, folder: folder)
        try await fixture.running(poller) {
            try await fixture.expectEventually {
                let state = try await fixture.store.sourceState(poller.stateKey) ?? ""
                return state.contains("\"uidValidity\":\(secondValidity)") && state.contains("\"lastUID\":3")
            }
        }
        #expect(try await fixture.intakeCount() == 3)
        let new = try await fixture.store.intake(organization: "demo", dedupeKey: "imap:mail:\(folder):\(secondValidity):3")
        #expect(new != nil)
        // The old ones were recognised and still acknowledged.
        _ = try await admin.select(folder)
        for uid in UInt32(1)...3 {
            let seen = try await admin.hasFlag(uid: uid, "\\Seen")
            #expect(seen == true)
        }
        try await admin.delete(folder: folder)
        await admin.shutdown()
    }

    @Test func wrongPasswordBacksOffAndShowsInHealth() async throws {
        let server = try IMAPTestServer.require()
        let settings = server.settings(folder: "INBOX", password: "not-the-password", unhealthyAfter: 1)
        let fixture = try PollerFixture()
        defer { fixture.cleanup() }
        try await fixture.running(fixture.poller(settings, folder: "INBOX")) {
            try await fixture.expectEventually(10) { (fixture.health.snapshot(source: "mail", folder: "INBOX")?.consecutiveFailures ?? 0) >= 2 }
        }
        let snapshot = try #require(fixture.health.snapshot(source: "mail", folder: "INBOX"))
        #expect(snapshot.state == "failing")
        #expect(snapshot.lastError?.contains("authentication") == true)
        #expect(snapshot.lastError?.contains("not-the-password") == false)
        #expect(snapshot.lastSync == nil)
        #expect(!snapshot.isHealthy(at: Date()))
        #expect(try await fixture.intakeCount() == 0)
    }

    @Test func oversizedMessagesAreSkippedWithAReason() async throws {
        let server = try IMAPTestServer.require()
        let folder = uniqueFolder("large")
        let settings = server.settings(folder: folder, pollInterval: 1, idle: false, maxMessageBytes: 2048)
        let admin = try await server.client(settings)
        try await admin.create(folder: folder)
        try await admin.append(testMessage("big", body: String(repeating: "x", count: 4000)), to: folder)
        try await admin.append(testMessage("small"), to: folder)
        let fixture = try PollerFixture()
        defer { fixture.cleanup() }
        let poller = fixture.poller(settings, folder: folder)
        try await fixture.running(poller) {
            try await fixture.expectEventually { try await fixture.store.sourceState(poller.stateKey)?.contains("\"lastUID\":2") == true }
        }
        #expect(try await fixture.intakeCount() == 1)
        let state = try await fixture.store.sourceState(poller.stateKey) ?? ""
        #expect(state.contains("max_message_bytes"))
        #expect(fixture.health.snapshot(source: "mail", folder: folder)?.skipped == 1)
        // Left unread on the server for a human.
        _ = try await admin.select(folder)
        let seen = try await admin.hasFlag(uid: 1, "\\Seen")
        #expect(seen == false)
        try await admin.delete(folder: folder)
        await admin.shutdown()
    }

    /// Messages above `stream_threshold_bytes` are fetched alone in `BODY.PEEK[]<offset.length>`
    /// pieces straight into the blob store and parsed from the file: the raw blob is exactly the
    /// appended bytes, the attachments are documents with the right hashes, each message is
    /// acknowledged once, and a small message after them still takes the batched path. One
    /// message is exactly two pieces long, so its last fetch finds nothing past the end.
    @Test func largeMessagesStreamIntoTheBlobStore() async throws {
        let server = try IMAPTestServer.require()
        let folder = uniqueFolder("stream")
        let target = folder + "-done"
        var settings = server.settings(folder: folder, processed: .move(target), pollInterval: 1, idle: false, maxMessageBytes: 64 << 20)
        settings.streamThresholdBytes = 1 << 20
        let admin = try await server.client(settings)
        try await admin.create(folder: folder)
        try await admin.create(folder: target)
        let scan = LargeMail.bytes(22 << 20, seed: 7)
        let note = Data("total: 1,234.00 EUR\n".utf8)
        let big = LargeMail.message(subject: "scans", attachments: [("scan.pdf", "application/pdf", scan), ("note.txt", "text/plain", note)])
        let exact = LargeMail.exactly(2 * MailboxPoller.streamChunkBytes, subject: "two pieces")
        #expect(big.count > 30_000_000)
        #expect(exact.count == 2 << 20)
        try await admin.append(big, to: folder)
        try await admin.append(exact, to: folder)
        try await admin.append(testMessage("small"), to: folder)

        let fixture = try PollerFixture()
        defer { fixture.cleanup() }
        let poller = fixture.poller(settings, folder: folder)
        let selected = try await admin.select(folder)
        try await fixture.running(poller) {
            try await fixture.expectEventually(180) {
                try await fixture.store.sourceState(poller.stateKey)?.contains("\"lastUID\":3") == true
            }
            try await Task.sleep(for: .seconds(2))
        }
        #expect(try await fixture.intakeCount() == 3)
        func intake(_ uid: Int) async throws -> Intake {
            try #require(try await fixture.store.intake(organization: "demo", dedupeKey: "imap:mail:\(folder):\(selected.uidValidity):\(uid)"))
        }
        let first = try await intake(1)
        #expect(first.metadata["imap.streamed"] == "true")
        #expect(first.rawBlob == ContentHash.sha256(big))
        #expect(first.rawSize == big.count)
        let stored = try await fixture.committer.blobs.get(first.rawBlob)
        #expect(ContentHash.sha256(stored) == ContentHash.sha256(big))
        #expect(try await fixture.committer.blobs.fileURL(for: first.rawBlob) != nil)
        let documents = try await fixture.store.documents(intakeID: first.id).sorted { $0.origin < $1.origin }
        #expect(documents.map(\.filename) == ["scan.pdf", "note.txt"])
        #expect(documents.map(\.blob) == [ContentHash.sha256(scan), ContentHash.sha256(note)])
        #expect(documents.map(\.size) == [scan.count, note.count])
        #expect(documents.map(\.origin) == ["mime:2", "mime:3"])
        for document in documents {
            let bytes = try await fixture.committer.blobs.get(document.blob)
            #expect(ContentHash.sha256(bytes) == document.blob)
        }
        let second = try await intake(2)
        #expect(second.metadata["imap.streamed"] == "true")
        #expect(second.rawBlob == ContentHash.sha256(exact))
        #expect(second.rawSize == exact.count)
        let third = try await intake(3)
        #expect(third.metadata["imap.streamed"] == nil)
        #expect(third.metadata["message_id"]?.hasSuffix("@example.com") == true)
        // No temporary file left behind by the streamed writes.
        let temporary = fixture.directory.appendingPathComponent("blobs/tmp").path
        #expect(try FileManager.default.contentsOfDirectory(atPath: temporary).isEmpty)

        // Acknowledged once each: moved, one copy apiece.
        _ = try await admin.select(folder)
        #expect(try await admin.messages(after: 0).isEmpty)
        _ = try await admin.select(target)
        #expect(try await admin.messages(after: 0).map(\.size).sorted() == [testMessage("small").count, exact.count, big.count].sorted())
        _ = try await admin.select("INBOX")
        try await admin.delete(folder: folder)
        try await admin.delete(folder: target)
        await admin.shutdown()
    }

    @Test func secondInstanceWaitsForTheLease() async throws {
        let server = try IMAPTestServer.require()
        let folder = uniqueFolder("lease")
        let settings = server.settings(folder: folder, pollInterval: 1, idle: false)
        let admin = try await server.client(settings)
        try await admin.create(folder: folder)
        let fixture = try PollerFixture()
        defer { fixture.cleanup() }
        #expect(try await fixture.store.acquireLease("imap:mail:\(folder)", owner: "other-instance", duration: 60))
        try await fixture.running(fixture.poller(settings, folder: folder, owner: "this-instance")) {
            try await admin.append(testMessage("not for us"), to: folder)
            try await fixture.expectEventually { fixture.health.snapshot(source: "mail", folder: folder)?.state == "standby" }
            try await Task.sleep(for: .seconds(1.5))
            #expect(try await fixture.intakeCount() == 0)
            #expect(fixture.health.snapshot(source: "mail", folder: folder)?.isHealthy(at: Date()) == true)
        }
        try await admin.delete(folder: folder)
        await admin.shutdown()
    }
}

@Suite struct MailboxNameTests {
    @Test(arguments: [
        ("INBOX", "INBOX"), ("Entwürfe", "Entw&APw-rfe"), ("A&B", "A&-B"), ("日本語", "&ZeVnLIqe-"),
        ("Factures/Été", "Factures/&AMk-t&AOk-"), ("😀", "&2D3eAA-"),
    ])
    func modifiedUTF7(name: String, wire: String) {
        #expect(MailboxName.encode(name) == wire)
    }
}

@Suite struct MailFingerprintTests {
    @Test func combinesTheParsedMessageIDWithTheContentHash() {
        let raw = Data("Subject: x\r\nMessage-ID:\r\n <abc@host>\r\n\r\nMessage-ID: <body@host>\r\n".utf8)
        let intake = MailIntake.pending(raw: raw, organization: "demo", source: "mail", sourceKind: .imap)
        #expect(intake.metadata["message_id"] == "abc@host")
        let fingerprint = MailFingerprint.make(messageID: intake.metadata["message_id"], raw: raw)
        #expect(fingerprint == "<abc@host>:\(ContentHash.sha256(raw))")
        #expect(MailFingerprint.make(messageID: nil, raw: raw).hasPrefix("<none>:"))
        #expect(MailFingerprint.make(messageID: "", raw: raw).hasPrefix("<none>:"))
    }
}
