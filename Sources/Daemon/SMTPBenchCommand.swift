import Actions
import ArgumentParser
import Core
import Foundation
import Mail
import Synchronization

/// `astralisd smtp-bench` (hidden): drives the real reply path — compose with GMime, send with
/// libcurl through `SMTPSender` — against an SMTP server, for bench/actions.sh. Prints one line of
/// `key=value` pairs.
struct SMTPBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smtp-bench",
        abstract: "Benchmark SMTP replies against a server (for bench/actions.sh).",
        shouldDisplay: false
    )

    @Option(help: "SMTP host.") var host = "127.0.0.1"
    @Option(help: "SMTP port.") var port: Int
    @Option(help: "implicit, starttls or none.") var tls = "starttls"
    @Option(help: "CA file to trust.") var caFile: String?
    @Option(help: "AUTH user (password from $ASTRALISD_BENCH_SMTP_PASSWORD).") var username: String?
    @Option(help: "Replies to send.") var count = 1000
    @Option(help: "Replies in flight at once.") var concurrency = 4
    @Flag(help: "Open a new connection for every message.") var noReuse = false

    func run() async throws {
        guard let mode = SMTPTLSMode(rawValue: tls) else { throw ValidationError("--tls: expected implicit, starttls or none") }
        let account = SMTPAccountConfig(
            id: "bench", host: host, port: port, tls: mode, caFile: caFile, allowInsecure: true, username: username,
            password: nil, auth: .plain, fromAddress: "replies@bench.example", fromName: "Bench", messageIDDomain: "bench.example",
            connectionReuse: !noReuse)
        let secret = ProcessInfo.processInfo.environment["ASTRALISD_BENCH_SMTP_PASSWORD"]
        let sender = SMTPSender(threads: concurrency)
        let parent = Message(
            messageID: "parent@customer.example", subject: "Question about my order", from: [MailAddress(name: "Ada", address: "ada@customer.example")],
            references: ["root@customer.example"])
        let counter = Counter(total: count)
        let started = ContinuousClock.now
        var connections = 0
        var failures = 0
        try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for _ in 0..<max(1, concurrency) {
                group.addTask {
                    var opened = 0
                    var failed = 0
                    while let index = counter.next() {
                        let draft = ReplyComposer.draft(
                            replyingTo: parent, from: MailAddress(name: "Bench", address: account.fromAddress), to: MailAddress(address: "to\(index)@customer.example"),
                            subject: ReplyComposer.replySubject(parent.subject), text: "Thanks, we got your message \(index).\n",
                            html: "<p>Thanks, we got your message \(index).</p>", messageID: ReplyComposer.makeMessageID(domain: account.messageIDDomain), date: Date())
                        let bytes = try ReplyComposer.compose(draft)
                        do {
                            let receipt = try await sender.send(bytes, envelope: SMTPEnvelope(from: account.fromAddress, recipients: [draft.to.address]), account: account, secret: secret)
                            opened += receipt.newConnections
                        } catch {
                            failed += 1
                        }
                    }
                    return (opened, failed)
                }
            }
            for try await (opened, failed) in group {
                connections += opened
                failures += failed
            }
        }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        await sender.shutdown()
        print(String(format: "replies=%d failed=%d connections=%d seconds=%.3f replies_per_second=%.1f", count - failures, failures, connections, seconds, Double(count - failures) / max(seconds, 0.000001)))
    }
}

/// Hands out message numbers to the bench's tasks.
private final class Counter: Sendable {
    private let state: Mutex<Int>
    private let total: Int
    init(total: Int) {
        self.total = total
        state = Mutex(0)
    }
    func next() -> Int? {
        state.withLock { value in
            guard value < total else { return nil }
            value += 1
            return value
        }
    }
}
