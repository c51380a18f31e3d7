import Core
import Foundation
import Testing

/// The aiosmtpd server of `scripts/smtp.sh` (`ASTRALISD_TEST_SMTP_*`); required in CI, else the
/// suites that need it are skipped (with the reason).
struct TestSMTPServer {
    var port: Int
    var tlsPort: Int
    var caFile: String
    var user: String
    var password: String
    var maildir: String
    var connectionsLog: String

    static let environment = ProcessInfo.processInfo.environment
    static let shouldRun = environment["ASTRALISD_TEST_SMTP_PORT"] != nil || environment["CI"] == "true"
    static let skipReason: Comment = "no test SMTP server: run scripts/test.sh, or scripts/smtp.sh start DIR and source DIR/env"

    struct Missing: Error, CustomStringConvertible {
        var description: String { "ASTRALISD_TEST_SMTP_* is not set: run scripts/test.sh, or scripts/smtp.sh start DIR and source DIR/env" }
    }

    static func require() throws -> TestSMTPServer {
        let env = environment
        guard let port = env["ASTRALISD_TEST_SMTP_PORT"].flatMap(Int.init), let tlsPort = env["ASTRALISD_TEST_SMTP_TLS_PORT"].flatMap(Int.init),
              let caFile = env["ASTRALISD_TEST_SMTP_CA_FILE"], let user = env["ASTRALISD_TEST_SMTP_USER"],
              let password = env["ASTRALISD_TEST_SMTP_PASSWORD"], let maildir = env["ASTRALISD_TEST_SMTP_MAILDIR"],
              let connections = env["ASTRALISD_TEST_SMTP_CONNECTIONS"] else { throw Missing() }
        return TestSMTPServer(port: port, tlsPort: tlsPort, caFile: caFile, user: user, password: password, maildir: maildir, connectionsLog: connections)
    }

    func account(id: String = "test", tls: SMTPTLSMode = .starttls, auth: SMTPAuthMechanism = .plain, reuse: Bool = true, withAuth: Bool = true, caFile: String?? = nil) -> SMTPAccountConfig {
        SMTPAccountConfig(
            id: id, host: "127.0.0.1", port: tls == .implicit ? tlsPort : port, tls: tls, caFile: caFile ?? self.caFile,
            allowInsecure: tls == .none, username: withAuth ? user : nil, password: withAuth ? .value(password) : nil, auth: auth,
            fromAddress: "support@acme.example", fromName: "Acme Support", messageIDDomain: "acme.example", connectTimeout: 5,
            timeout: 10, connectionReuse: reuse)
    }

    /// Connections the server has accepted so far.
    func connectionCount() -> Int {
        (try? String(contentsOfFile: connectionsLog, encoding: .utf8))?.split(separator: "\n").count ?? 0
    }

    struct Received {
        var raw: Data
        var envelope: [String: Any]
        var text: String { String(decoding: raw, as: UTF8.self) }
        var recipients: [String] { envelope["rcpt_tos"] as? [String] ?? [] }
    }

    /// Every received message whose envelope recipients include `recipient`, in arrival order.
    func received(to recipient: String) -> [Received] {
        let directory = maildir + "/new"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".eml") }.sorted()
        return names.compactMap { name in
            let base = directory + "/" + String(name.dropLast(4))
            guard let raw = FileManager.default.contents(atPath: base + ".eml"), let meta = FileManager.default.contents(atPath: base + ".json"),
                  let envelope = (try? JSONSerialization.jsonObject(with: meta)) as? [String: Any] else { return nil }
            let message = Received(raw: raw, envelope: envelope)
            return message.recipients.contains(recipient) ? message : nil
        }
    }

    /// Waits up to `timeout` for at least `count` messages to `recipient`.
    func waitForMessages(to recipient: String, count: Int = 1, timeout: Duration = .seconds(10)) async throws -> [Received] {
        let deadline = ContinuousClock.now + timeout
        var found = received(to: recipient)
        while found.count < count, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            found = received(to: recipient)
        }
        return found
    }

    /// A fresh recipient address with `prefix` (`reject-`, `defer-` trigger the server's refusals).
    static func recipient(_ prefix: String = "") -> String {
        "\(prefix)\(UUID().uuidString.prefix(8).lowercased())@customer.example"
    }
}
