import Actions
import Core
import Foundation
import Logging
import Testing

/// The Radicale server of `scripts/radicale.sh` (`ASTRALISD_TEST_CALDAV_*`); required in CI,
/// else the suite is skipped (with the reason).
struct TestRadicale {
    var home: String
    var user: String
    var password: String

    static let environment = ProcessInfo.processInfo.environment
    static let shouldRun = environment["ASTRALISD_TEST_CALDAV_HOME"] != nil || environment["CI"] == "true"
    static let skipReason: Comment = "no test CalDAV server: run scripts/test.sh, or scripts/radicale.sh start DIR and source DIR/env"

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func require() throws -> TestRadicale {
        guard let home = environment["ASTRALISD_TEST_CALDAV_HOME"], let user = environment["ASTRALISD_TEST_CALDAV_USER"],
              let password = environment["ASTRALISD_TEST_CALDAV_PASSWORD"]
        else { throw Failure(description: "ASTRALISD_TEST_CALDAV_* is not set: run scripts/test.sh, or scripts/radicale.sh start DIR and source DIR/env") }
        return TestRadicale(home: home, user: user, password: password)
    }

    /// A new, empty calendar collection for one test.
    func makeCalendar() async throws -> String {
        let url = home + "test-\(UUID().uuidString.lowercased())/"
        let (status, _) = try await request("MKCALENDAR", url)
        guard status == 201 else { throw Failure(description: "MKCALENDAR \(url) answered \(status)") }
        return url
    }

    /// A raw request with the test credentials, made with curl (fixtures: events written as
    /// other clients write them, MKCALENDAR).
    @discardableResult
    func request(_ method: String, _ url: String, body: String? = nil) async throws -> (Int, String) {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("caldav-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let output = scratch.appendingPathComponent("body")
        var arguments = ["-s", "-o", output.path, "-w", "%{http_code}", "-u", "\(user):\(password)", "-X", method]
        if let body {
            let input = scratch.appendingPathComponent("request")
            try Data(body.utf8).write(to: input)
            arguments += ["-H", "Content-Type: text/calendar; charset=utf-8", "--data-binary", "@" + input.path]
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["curl"] + arguments + [url]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let status = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard let code = Int(String(decoding: status, as: UTF8.self)) else { throw Failure(description: "curl \(method) \(url) failed") }
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        return (code, text)
    }

    func provider(_ url: String, password: String? = nil, retry: RetryPolicy = RetryPolicy(baseDelay: 0.01, maxDelay: 0.05, maxAttempts: 3, jitter: 0.5), floating: TimeZone = .gmt) throws -> CalDAVCalendarProvider {
        try CalDAVCalendarProvider(
            config: CalDAVConfig(url: url, username: user, password: .env("ASTRALISD_TEST_CALDAV_PASSWORD"), allowPlaintext: true, timeoutSeconds: 10),
            resolveSecret: { [secret = password ?? self.password] _ in secret }, floatingTimeZone: floating, retry: retry,
            logger: Logger(label: "test.caldav")
        )
    }
}
