import Foundation
import Inbound
import Testing
#if canImport(Glibc)
import Glibc
#endif

// Process-level test support: runs the real `astralisd` binary against a throw-away state
// directory and talks to it over HTTP (curl), signals and the sd_notify socket. Nothing here
// skips: a missing binary or curl is a failure, as STYLE.md asks for CI (`CI=true`).

/// A failure of the harness itself (binary missing, process would not start, a wait timed out).
struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The binary under test and the tools the tests shell out to.
enum TestTools {
    /// The package root, derived from this file's place: `<root>/Tests/DaemonTests/<file>`.
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `$ASTRALISD_TEST_BIN`, else `.build/debug/astralisd` under the package root (`swift build` runs first).
    static func astralisd() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        let path = environment["ASTRALISD_TEST_BIN"].flatMap { $0.isEmpty ? nil : $0 }
            ?? packageRoot.appendingPathComponent(".build/debug/astralisd").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw HarnessError("astralisd binary not found at \(path): run `swift build --product astralisd` first or set ASTRALISD_TEST_BIN")
        }
        return path
    }

    /// `$ASTRALISD_EXTRACT_BIN`, else `astralisd-extract` next to `astralisd()` (one `swift build`
    /// builds both); the daemons the tests start find it there too.
    static func extractor() throws -> String {
        let path = ExtractionSandbox.extractorExecutable(environment: ProcessInfo.processInfo.environment, daemon: try astralisd())
        if let problem = ExtractionSandbox.extractorProblem(path) { throw HarnessError(problem + ": run `swift build` first") }
        return path
    }

    static func curl() throws -> String {
        let searchPath = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in searchPath.split(separator: ":") + ["/usr/bin", "/usr/local/bin"] {
            let candidate = "\(directory)/curl"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw HarnessError("curl not found on PATH; the daemon process tests need it")
    }

    /// The environment a child gets: ours, minus everything the daemon would read as its own.
    /// `ASTRALISD_*` variables are config key overrides to the daemon and systemd's variables
    /// change its behaviour; each test sets exactly the ones it means to.
    static func childEnvironment(_ extra: [String: String]) -> [String: String] {
        let systemd: Set<String> = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "STATE_DIRECTORY", "JOURNAL_STREAM", "CREDENTIALS_DIRECTORY", "LISTEN_FDS", "LISTEN_PID"]
        var environment = ProcessInfo.processInfo.environment.filter { key, _ in
            (!key.hasPrefix("ASTRALISD_") || key == "ASTRALISD_EXTRACT_BIN") && !systemd.contains(key)
        }
        environment.merge(extra) { _, new in new }
        return environment
    }
}

/// Microseconds on CLOCK_MONOTONIC, the clock `MONOTONIC_USEC=` is read from.
func monotonicMicroseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
}

/// Ports the kernel just handed out on 127.0.0.1; all sockets are held open until every port is
/// picked so the same port is not returned twice.
func freeLoopbackPorts(_ count: Int) throws -> [Int] {
    var descriptors: [Int32] = []
    defer { for fd in descriptors { close(fd) } }
    var ports: [Int] = []
    for _ in 0..<count {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket() failed: errno \(errno)") }
        descriptors.append(fd)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw -> Int32 in
                guard bind(fd, raw, length) == 0 else { return -1 }
                return getsockname(fd, raw, &length)
            }
        }
        guard bound == 0 else { throw HarnessError("bind/getsockname on 127.0.0.1:0 failed: errno \(errno)") }
        ports.append(Int(UInt16(bigEndian: address.sin_port)))
    }
    return ports
}

/// What a finished short-lived command left behind.
struct CommandResult {
    var reason: Process.TerminationReason
    var status: Int32
    var stdout: String
    var stderr: String

    var exitedCleanly: Bool { reason == .exit && status == 0 }
    var summary: String { "exit \(reason == .exit ? "status" : "signal") \(status)\n--- stdout\n\(stdout)\n--- stderr\n\(stderr)" }
}

/// Runs a command to completion with its output in files (no pipe can fill up), polling for the
/// exit so the test's task never blocks a thread.
func runCommand(_ executable: String, _ arguments: [String], environment: [String: String], in directory: URL, timeout: Duration = .seconds(30)) async throws -> CommandResult {
    let stamp = UUID().uuidString.prefix(8)
    let outURL = directory.appendingPathComponent("cmd-\(stamp).out")
    let errURL = directory.appendingPathComponent("cmd-\(stamp).err")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: outURL)
        try? FileManager.default.removeItem(at: errURL)
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = environment
    process.currentDirectoryURL = directory
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = try FileHandle(forWritingTo: outURL)
    process.standardError = try FileHandle(forWritingTo: errURL)
    try process.run()
    let deadline = ContinuousClock.now + timeout
    while process.isRunning {
        if ContinuousClock.now > deadline {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw HarnessError("\(executable) \(arguments.joined(separator: " ")) did not finish within \(timeout)")
        }
        try await Task.sleep(for: .milliseconds(20))
    }
    process.waitUntilExit()
    return CommandResult(
        reason: process.terminationReason, status: process.terminationStatus,
        stdout: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
    )
}

// MARK: - HTTP through curl

struct HTTPResult {
    /// Nil when no HTTP answer came (connection refused, reset, empty reply).
    var status: Int?
    var body: String
    var curlError: String

    func decode<T: Decodable>(_ type: T.Type) -> T? {
        try? JSONDecoder().decode(type, from: Data(body.utf8))
    }
}

/// The 202 body of `POST /hooks/{source}`.
struct AcceptedWebhook: Decodable {
    var intake_id: String
    var status: String
    var duplicate: Bool
}

/// `GET /hooks/{source}/intakes/{id}`.
struct IntakeStatusBody: Decodable {
    var intake_id: String
    var status: String
    var status_reason: String?
}

/// `GET /readyz`.
struct ReadinessBody: Decodable {
    struct Checks: Decodable {
        struct Queue: Decodable {
            var ready: Double?
            var leased: Double?
            var dead: Double?
        }
        var queue: Queue
    }
    var status: String
    var checks: Checks
}

/// One row of `astralisd items list --json`.
struct ItemRow: Decodable {
    var id: String
    var intakeID: String
    var pipeline: String
    var stage: String
    var title: String
}

/// `astralisd intake show ID`.
struct IntakeReport: Decodable {
    struct IntakeRow: Decodable {
        var id: String
        var source: String
        var status: String
        var itemID: String?
    }
    var intake: IntakeRow
    var item: ItemRow?
}

enum HTTP {
    static func request(_ method: String, _ url: String, body: String? = nil, headers: [String: String] = [:], timeout: Int = 10) async throws -> HTTPResult {
        let scratch = FileManager.default.temporaryDirectory
        let bodyURL = scratch.appendingPathComponent("astralisd-http-\(UUID().uuidString).body")
        defer { try? FileManager.default.removeItem(at: bodyURL) }
        var arguments = ["-sS", "-X", method, "--max-time", "\(timeout)", "-o", bodyURL.path, "-w", "%{http_code}"]
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { arguments += ["-H", "\(name): \(value)"] }
        if let body { arguments += ["--data-binary", body] }
        arguments.append(url)
        let result = try await runCommand(try TestTools.curl(), arguments, environment: TestTools.childEnvironment([:]), in: scratch, timeout: .seconds(timeout + 5))
        let code = Int(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        return HTTPResult(
            status: code == 0 ? nil : code,
            body: (try? String(contentsOf: bodyURL, encoding: .utf8)) ?? "",
            curlError: result.stderr
        )
    }
}

// MARK: - sd_notify receiver

/// The systemd side of sd_notify: a unix datagram socket bound to a path, read without blocking.
final class NotifySocket {
    struct Message {
        var text: String
        var receivedAt: UInt64
        var lines: [String] { text.split(separator: "\n").map(String.init) }
        func has(_ line: String) -> Bool { lines.contains(line) }
        func value(_ key: String) -> String? {
            lines.first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
        }
    }

    let path: String
    private let fd: Int32
    private(set) var messages: [Message] = []

    init(path: String) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket(AF_UNIX, SOCK_DGRAM) failed: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw HarnessError("notify socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw HarnessError("bind(\(path)) failed: errno \(code)")
        }
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// Reads every datagram waiting now.
    func drain() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            guard count > 0 else { return }
            messages.append(Message(text: String(decoding: buffer[0..<count], as: UTF8.self), receivedAt: monotonicMicroseconds()))
        }
    }

    /// The index of the first message at or after `start` that `matches`, waiting up to `timeout`.
    func waitFor(from start: Int = 0, timeout: Duration, _ matches: (Message) -> Bool) async -> Int? {
        let deadline = ContinuousClock.now + timeout
        while true {
            drain()
            if start < messages.count, let index = messages[start...].firstIndex(where: matches) { return index }
            if ContinuousClock.now > deadline { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    var transcript: String { messages.map { $0.text.replacingOccurrences(of: "\n", with: "\\n") }.joined(separator: " | ") }
}

// MARK: - The daemon under test

/// One `astralisd run` process with its stderr log in a file.
final class DaemonProcess {
    let process: Process
    let logURL: URL

    init(process: Process, logURL: URL) {
        self.process = process
        self.logURL = logURL
    }

    var pid: pid_t { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    func signal(_ signal: Int32) {
        guard process.isRunning else { return }
        kill(pid, signal)
    }

    /// Waits for the process to end; nil if it is still running after `timeout`.
    func waitForExit(timeout: Duration) async -> (reason: Process.TerminationReason, status: Int32)? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now > deadline { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
        process.waitUntilExit()
        return (process.terminationReason, process.terminationStatus)
    }

    /// Waits until the log holds `text` at least `count` times.
    func waitForLog(_ text: String, count: Int = 1, timeout: Duration = .seconds(10)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            if log.components(separatedBy: text).count - 1 >= count { return true }
            if ContinuousClock.now > deadline { return false }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// SIGKILL if still running, for the cleanup path.
    func killIfRunning() {
        guard process.isRunning else { return }
        kill(pid, SIGKILL)
        process.waitUntilExit()
    }
}

/// A temp directory with a state dir, a config file on two free ports, and every daemon started
/// from it; `cleanUp()` (in a `defer`) kills what still runs and removes the directory.
final class DaemonFixture {
    static let source = "contact-form"

    let root: URL
    let stateDir: String
    let configPath: String
    let webhookPort: Int
    let adminPort: Int
    private var started: [DaemonProcess] = []

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("astralisd-test-\(UUID().uuidString.prefix(12))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        stateDir = root.appendingPathComponent("state").path
        configPath = root.appendingPathComponent("astralisd.json").path
        let ports = try freeLoopbackPorts(2)
        webhookPort = ports[0]
        adminPort = ports[1]
        try writeConfig(configJSON())
    }

    func cleanUp() {
        for daemon in started { daemon.killIfRunning() }
        try? FileManager.default.removeItem(at: root)
    }

    var webhookBase: String { "http://127.0.0.1:\(webhookPort)" }
    var adminBase: String { "http://127.0.0.1:\(adminPort)" }

    // MARK: Configuration

    /// A valid configuration in the shape of `astralisd.example.json`, tuned for fast tests:
    /// short polls, the shortest lease (a job held by a killed process comes back in 5 s).
    /// `organization` edits the one organization's object before it is written.
    func configJSON(sources: [String] = [DaemonFixture.source], extraTopLevel: [String: Any] = [:], organization edit: (inout [String: Any]) -> Void = { _ in }) -> String {
        var top: [String: Any] = [
            "state_dir": stateDir,
            "listen": ["webhooks": "127.0.0.1:\(webhookPort)", "admin": "127.0.0.1:\(adminPort)"],
            "workers": [
                "concurrency": 2, "poll_interval_ms": 100, "lease_seconds": 5, "max_attempts": 8,
                "backoff_base_seconds": 0.2, "backoff_max_seconds": 2, "backoff_jitter": 0.1,
            ] as [String: Any],
            "shutdown": ["grace_seconds": 10],
            "log": ["level": "info"],
            "intake": ["batch_size": 64],
            "organizations": [organization(sources: sources, edit: edit)],
        ]
        top.merge(extraTopLevel) { _, new in new }
        let data = (try? JSONSerialization.data(withJSONObject: top, options: [.prettyPrinted, .sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    private func organization(sources: [String], edit: (inout [String: Any]) -> Void) -> [String: Any] {
        var organization: [String: Any] = [
            "id": "demo",
            "name": "Demo Agency",
            "pipelines": [[
                "id": "sales", "name": "Sales",
                "stages": [["id": "new", "name": "New"], ["id": "won", "name": "Won"]],
            ] as [String: Any]],
            "default_route": [
                "pipeline": "sales", "stage": "new", "priority": "normal", "tags": ["web"],
                "title": "{{payload.name}} - {{payload.subject}}",
            ] as [String: Any],
            "sources": sources.map { id -> [String: Any] in
                ["id": id, "type": "webhook", "auth": ["type": "none"], "max_body_bytes": 65536]
            },
        ]
        edit(&organization)
        return organization
    }

    func writeConfig(_ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: configPath), options: .atomic)
    }

    // MARK: Processes

    /// Starts `astralisd run` (not waiting for readiness).
    func start(environment extra: [String: String] = [:]) throws -> DaemonProcess {
        let logURL = root.appendingPathComponent("daemon-\(started.count + 1).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try TestTools.astralisd())
        process.arguments = ["run", "--config", configPath, "--state-dir", stateDir]
        process.environment = TestTools.childEnvironment(extra)
        process.currentDirectoryURL = root
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: logURL)
        process.standardError = try FileHandle(forWritingTo: logURL)
        try process.run()
        let daemon = DaemonProcess(process: process, logURL: logURL)
        started.append(daemon)
        return daemon
    }

    /// Starts the daemon and waits until `/readyz` answers 200.
    func startReady(environment: [String: String] = [:], timeout: Duration = .seconds(15)) async throws -> DaemonProcess {
        let daemon = try start(environment: environment)
        try await waitUntilReady(daemon, timeout: timeout)
        return daemon
    }

    func waitUntilReady(_ daemon: DaemonProcess, timeout: Duration = .seconds(15)) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            guard daemon.isRunning else { throw HarnessError("astralisd exited before becoming ready; log:\n\(daemon.log)") }
            if try await HTTP.request("GET", adminBase + "/readyz", timeout: 2).status == 200 { return }
            if ContinuousClock.now > deadline { throw HarnessError("astralisd not ready within \(timeout); log:\n\(daemon.log)") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// SIGTERM and wait for a clean exit (status 0).
    func stop(_ daemon: DaemonProcess, timeout: Duration = .seconds(20)) async throws {
        daemon.signal(SIGTERM)
        guard let exit = await daemon.waitForExit(timeout: timeout) else {
            throw HarnessError("astralisd did not stop within \(timeout) of SIGTERM; log:\n\(daemon.log)")
        }
        guard exit.reason == .exit, exit.status == 0 else {
            throw HarnessError("astralisd stopped with \(exit.reason == .exit ? "status" : "signal") \(exit.status); log:\n\(daemon.log)")
        }
    }

    // MARK: Webhooks

    static func payload(name: String, subject: String) -> String {
        let object: [String: String] = ["name": name, "subject": subject, "email": "\(name.lowercased())@example.com", "message": "Hello from \(name)"]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    func postWebhook(source: String = DaemonFixture.source, body: String, idempotencyKey: String? = nil, timeout: Int = 10) async throws -> HTTPResult {
        try await Self.postWebhook(base: webhookBase, source: source, body: body, idempotencyKey: idempotencyKey, timeout: timeout)
    }

    /// The same from a child task, which may not capture the fixture.
    static func postWebhook(base: String, source: String = DaemonFixture.source, body: String, idempotencyKey: String? = nil, timeout: Int = 10) async throws -> HTTPResult {
        var headers = ["Content-Type": "application/json"]
        if let idempotencyKey { headers["Idempotency-Key"] = idempotencyKey }
        return try await HTTP.request("POST", base + "/hooks/\(source)", body: body, headers: headers, timeout: timeout)
    }

    func intakeStatus(_ id: String, source: String = DaemonFixture.source) async throws -> String? {
        try await HTTP.request("GET", webhookBase + "/hooks/\(source)/intakes/\(id)", timeout: 5).decode(IntakeStatusBody.self)?.status
    }

    /// Waits until every intake has reached `done`; returns the ones that did not.
    func waitUntilDone(_ ids: [String], source: String = DaemonFixture.source, timeout: Duration = .seconds(30)) async throws -> [String: String] {
        let deadline = ContinuousClock.now + timeout
        var pending: [String: String] = [:]
        for id in ids { pending[id] = "unknown" }
        while !pending.isEmpty {
            for id in pending.keys.sorted() {
                let status = try await intakeStatus(id, source: source) ?? "unknown"
                if status == "done" { pending[id] = nil } else { pending[id] = status }
            }
            if pending.isEmpty || ContinuousClock.now > deadline { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return pending
    }

    /// Waits until the job queue has nothing ready or leased (every job finished); returns the
    /// last readiness body seen.
    func waitUntilQueueSettled(timeout: Duration = .seconds(30)) async throws -> ReadinessBody? {
        let deadline = ContinuousClock.now + timeout
        var last: ReadinessBody?
        while true {
            last = try await HTTP.request("GET", adminBase + "/readyz", timeout: 2).decode(ReadinessBody.self)
            if let queue = last?.checks.queue, queue.ready == 0, queue.leased == 0 { return last }
            if ContinuousClock.now > deadline { return last }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    // MARK: Operator commands

    /// `astralisd ARGS --config CONFIG --state-dir STATE`.
    func cli(_ arguments: [String], environment: [String: String] = [:]) async throws -> CommandResult {
        try await runCommand(try TestTools.astralisd(), arguments + ["--config", configPath, "--state-dir", stateDir], environment: TestTools.childEnvironment(environment), in: root)
    }

    func items() async throws -> [ItemRow] {
        let result = try await cli(["items", "list", "--json", "--limit", "1000"])
        guard result.exitedCleanly else { throw HarnessError("items list failed: \(result.summary)") }
        do {
            return try JSONDecoder().decode([ItemRow].self, from: Data(result.stdout.utf8))
        } catch {
            throw HarnessError("items list --json printed something that is not an item array (\(error)): \(result.stdout)")
        }
    }

    func intakeReport(_ id: String) async throws -> IntakeReport {
        let result = try await cli(["intake", "show", id])
        guard result.exitedCleanly else { throw HarnessError("intake show \(id) failed: \(result.summary)") }
        do {
            return try JSONDecoder().decode(IntakeReport.self, from: Data(result.stdout.utf8))
        } catch {
            throw HarnessError("intake show \(id) printed something unexpected (\(error)): \(result.stdout)")
        }
    }
}

/// The parent of every suite that runs the binary: `.serialized` applies to the nested suites
/// too, so at most one daemon runs at a time on a small CI machine.
@Suite(.serialized)
struct DaemonProcessTests {}
