import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A small IMAP imitation on 127.0.0.1 that offers no STARTTLS: enough for the client to greet it,
/// ask for capabilities and (correctly) give up, or — on a loopback test with `tls: none` — to
/// accept `AUTHENTICATE XOAUTH2`. Records the authentication lines it received. `silent` accepts
/// connections and never says a word (a hung server).
final class FakeIMAPServer: Sendable {
    let port: Int
    private let listener: Int32
    private let silent: Bool
    private let capabilities: String
    private let authentications = Mutex<[String]>([])
    private let stopped = Atomic<Bool>(false)
    var sawLogin: Bool { !authentications.withLock { $0 }.isEmpty }
    /// The arguments of every LOGIN / AUTHENTICATE command, in order.
    var authLines: [String] { authentications.withLock { $0 } }

    struct Failure: Error {}

    init(silent: Bool = false, capabilities: String = "IMAP4rev1 AUTH=PLAIN") throws {
        self.silent = silent
        self.capabilities = capabilities
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure() }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, listen(fd, 1) == 0 else { close(fd); throw Failure() }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in
            while true {
                let connection = accept(listener, nil, nil)
                guard connection >= 0, !stopped.load(ordering: .relaxed) else {
                    if connection >= 0 { close(connection) }
                    // Closed here, not in stop(): closing under a blocked accept() would let the
                    // next server reuse the descriptor number and this thread steal its clients.
                    close(listener)
                    return
                }
                serve(connection)
            }
        }
        thread.start()
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        shutdown(listener, Int32(SHUT_RDWR))
    }

    private func serve(_ connection: Int32) {
        defer { close(connection) }
        if silent {
            var byte: UInt8 = 0
            _ = read(connection, &byte, 1)
            return
        }
        send("* OK [CAPABILITY \(capabilities)] fake server ready\r\n", to: connection)
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while true {
            let count = read(connection, &buffer, buffer.count)
            guard count > 0 else { return }
            pending += buffer[0..<count]
            // Bytes, not String: "\r\n" is one Character and would never match "\n".
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                pending.removeSubrange(...newline)
                let parts = line.split(separator: " ")
                guard parts.count >= 2 else { continue }
                let tag = parts[0]
                switch parts[1].uppercased() {
                case "CAPABILITY":
                    send("* CAPABILITY \(capabilities)\r\n\(tag) OK done\r\n", to: connection)
                case "LOGIN":
                    authentications.withLock { $0.append(parts.dropFirst(2).joined(separator: " ")) }
                    send("\(tag) NO not here\r\n", to: connection)
                case "AUTHENTICATE":
                    authentications.withLock { $0.append(parts.dropFirst(2).joined(separator: " ")) }
                    send("\(tag) OK authenticated\r\n", to: connection)
                case "NOOP":
                    send("\(tag) OK noop\r\n", to: connection)
                case "LOGOUT":
                    send("* BYE\r\n\(tag) OK bye\r\n", to: connection)
                    return
                default:
                    send("\(tag) BAD unknown\r\n", to: connection)
                }
            }
        }
    }

    private func send(_ text: String, to fd: Int32) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
}
