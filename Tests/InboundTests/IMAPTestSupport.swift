import Core
import Foundation
import Inbound
import Logging
import Storage
import Testing

/// The Dovecot that `scripts/dovecot.sh` started (its env file sourced): tests read
/// `ASTRALISD_TEST_IMAP_*`. Without it the IMAP suites skip locally; with `CI=true` they run and
/// fail, because a CI run without its server must not pass silently.
struct IMAPTestServer {
    var host: String
    var port: Int
    var tlsPort: Int
    var caFile: String
    var user: String
    var password: String
    var dovecotConf: String?

    static let environment = ProcessInfo.processInfo.environment
    static let configured = environment["ASTRALISD_TEST_IMAP_PORT"] != nil
    /// Run when the server is there, or in CI (where its absence is a failure).
    static let shouldRun = configured || environment["CI"] == "true"

    struct Missing: Error, CustomStringConvertible {
        var description: String { "ASTRALISD_TEST_IMAP_* is not set: start Dovecot with scripts/dovecot.sh start DIR and source DIR/env (scripts/test.sh does)" }
    }

    static func require() throws -> IMAPTestServer {
        let env = environment
        guard let host = env["ASTRALISD_TEST_IMAP_HOST"], let port = env["ASTRALISD_TEST_IMAP_PORT"].flatMap(Int.init),
              let tlsPort = env["ASTRALISD_TEST_IMAP_TLS_PORT"].flatMap(Int.init), let caFile = env["ASTRALISD_TEST_IMAP_CA_FILE"],
              let user = env["ASTRALISD_TEST_IMAP_USER"], let password = env["ASTRALISD_TEST_IMAP_PASSWORD"] else {
            throw Missing()
        }
        return IMAPTestServer(host: host, port: port, tlsPort: tlsPort, caFile: caFile, user: user, password: password, dovecotConf: env["ASTRALISD_TEST_IMAP_DOVECOT_CONF"])
    }

    func settings(
        folder: String, tls: IMAPTLSMode = .starttls, password: String? = nil, caFile: String?? = nil, processed: IMAPProcessedAction = .flag("\\Seen"),
        pollInterval: TimeInterval = 1, idle: Bool = true, maxMessageBytes: Int = 1 << 20, unhealthyAfter: TimeInterval = 900, allowInsecure: Bool = false
    ) -> IMAPSourceSettings {
        IMAPSourceSettings(
            host: host, port: tls == .implicit ? tlsPort : port, tls: tls, caFile: caFile ?? self.caFile, allowInsecure: allowInsecure,
            username: user, credential: .password(.value(password ?? self.password)), folders: [folder], pollInterval: pollInterval,
            idle: idle, idleRestart: 60, processed: processed, maxMessageBytes: maxMessageBytes, unhealthyAfter: unhealthyAfter, timeout: 10)
    }

    /// A connected client for arranging and checking the mailbox.
    func client(_ settings: IMAPSourceSettings) async throws -> IMAPClient {
        let password = { @Sendable () throws -> String in
            if case .password(.value(let secret)) = settings.credential { return secret }
            return ""
        }
        let client = IMAPClient(settings: settings, secret: password)
        try await client.connect()
        return client
    }

    /// Kicks every session of the test user (the server drops the connections).
    func kick() throws {
        guard let conf = dovecotConf else { throw Missing() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/doveadm")
        process.arguments = ["-c", conf, "kick", user]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
    }
}

/// A mail with a unique Message-ID.
func testMessage(_ subject: String, id: String = UUID().uuidString, body: String = "Hello from the tests.") -> Data {
    Data("""
        From: Client <client@example.com>\r
        To: inbox@example.com\r
        Subject: \(subject)\r
        Message-ID: <\(id)@example.com>\r
        Date: Wed, 25 Nov 2026 10:00:00 +0000\r
        \r
        \(body)\r

        """.utf8)
}

/// A poller on a real SQLite store and blob directory in a temp folder.
final class PollerFixture: Sendable {
    let directory: URL
    let store: SQLiteStore
    let committer: IntakeCommitter
    let health = MailboxHealth()
    let logger: Logger

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("astralisd-imap-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var logger = Logger(label: "imap-test")
        logger.logLevel = ProcessInfo.processInfo.environment["ASTRALISD_TEST_LOG"] == nil ? .critical : .debug
        self.logger = logger
        store = try SQLiteStore(path: directory.appendingPathComponent("db.sqlite").path, logger: logger)
        let files = try FileBlobStore(root: directory.appendingPathComponent("blobs").path)
        committer = IntakeCommitter(store: store, blobs: TieredBlobStore(small: SQLiteBlobStore(store: store), large: files), maxBatch: 16, logger: logger)
    }

    func poller(_ settings: IMAPSourceSettings, folder: String, owner: String = "test-owner", source: String = "mail") -> MailboxPoller {
        let config = SourceConfig(id: source, organization: "demo", kind: .imap, auth: .none, maxBodyBytes: settings.maxMessageBytes, route: nil, imap: settings)
        let secret = settings.credential
        return MailboxPoller(
            source: config, settings: settings, folder: folder, store: store, committer: committer, health: health, owner: owner,
            secret: {
                if case .password(.value(let value)) = secret { return value }
                return ""
            },
            logger: logger, backoff: RetryPolicy(baseDelay: 0.2, maxDelay: 1, maxAttempts: .max, jitter: 0.5))
    }

    /// Runs the poller until `body` returns, then cancels it and waits for it to stop.
    func running(_ poller: MailboxPoller, _ body: () async throws -> Void) async throws {
        let task = Task { try await poller.run() }
        do {
            try await body()
            task.cancel()
            _ = await task.result
        } catch {
            task.cancel()
            _ = await task.result
            throw error
        }
    }

    func intakeCount() async throws -> Int {
        try await store.counts().intakesByStatus.values.reduce(0, +)
    }

    /// Waits until `condition` holds or `seconds` pass; returns whether it held.
    func eventually(_ seconds: Double = 10, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }

    /// `eventually`, recording an issue at the caller when the condition never held.
    func expectEventually(_ seconds: Double = 10, sourceLocation: SourceLocation = #_sourceLocation, _ condition: () async throws -> Bool) async throws {
        let held = try await eventually(seconds, condition)
        if !held { Issue.record("condition did not hold within \(seconds) s", sourceLocation: sourceLocation) }
    }

    func cleanup() { try? FileManager.default.removeItem(at: directory) }
}

/// A folder name no other test uses.
func uniqueFolder(_ prefix: String) -> String {
    "\(prefix)-\(UUID().uuidString.prefix(8))"
}

/// Large messages for the streaming tests, generated (not stored in the repository).
enum LargeMail {
    /// Deterministic, incompressible bytes.
    static func bytes(_ count: Int, seed: UInt64) -> Data {
        var state = seed | 1
        var data = Data(count: count)
        data.withUnsafeMutableBytes { buffer in
            for index in 0..<buffer.count {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                buffer[index] = UInt8(truncatingIfNeeded: state)
            }
        }
        return data
    }

    /// A multipart/mixed message with a text body and each attachment base64-encoded.
    static func message(subject: String, attachments: [(filename: String, type: String, data: Data)]) -> Data {
        var raw = Data("""
            From: Scanner <scanner@example.com>\r
            To: inbox@example.com\r
            Subject: \(subject)\r
            Message-ID: <\(UUID().uuidString)@example.com>\r
            Date: Wed, 25 Nov 2026 10:00:00 +0000\r
            MIME-Version: 1.0\r
            Content-Type: multipart/mixed; boundary="=-large-="\r
            \r
            --=-large-=\r
            Content-Type: text/plain; charset=utf-8\r
            \r
            The scans are attached.\r

            """.utf8)
        for attachment in attachments {
            raw += Data("""
                --=-large-=\r
                Content-Type: \(attachment.type); name="\(attachment.filename)"\r
                Content-Disposition: attachment; filename="\(attachment.filename)"\r
                Content-Transfer-Encoding: base64\r
                \r

                """.utf8)
            raw += Data(attachment.data.base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed]).utf8)
            raw += Data("\r\n".utf8)
        }
        raw += Data("--=-large-=--\r\n".utf8)
        return raw
    }

    /// A plain message of exactly `size` bytes (CRLF lines of at most 80 bytes).
    static func exactly(_ size: Int, subject: String) -> Data {
        var raw = testMessage(subject, body: "padding follows")
        var left = size - raw.count
        while left > 0 {
            var length = min(80, left)
            if left - length == 1 { length -= 1 }
            raw += Data(repeating: UInt8(ascii: "x"), count: max(0, length - 2)) + Data("\r\n".utf8)
            left -= max(2, length)
        }
        return raw
    }
}
