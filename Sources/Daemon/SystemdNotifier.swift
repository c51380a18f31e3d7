import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The sd_notify protocol without libsystemd: datagrams like `READY=1` sent to the unix socket
/// named by `$NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace). Without the
/// variable every call is a no-op, so the daemon runs the same outside systemd.
final class SystemdNotifier: Sendable {
    let socketPath: String?
    /// `$WATCHDOG_USEC` as seconds when systemd asked for watchdog pings to this process.
    let watchdogInterval: TimeInterval?

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        if let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0,
           environment["WATCHDOG_PID"].flatMap(Int32.init).map({ $0 == getpid() }) ?? true {
            watchdogInterval = TimeInterval(usec) / 1_000_000
        } else {
            watchdogInterval = nil
        }
    }

    var isEnabled: Bool { socketPath != nil }

    func ready(status: String? = nil) { send("READY=1" + (status.map { "\nSTATUS=\($0)" } ?? "")) }
    func stopping() { send("STOPPING=1") }
    func watchdog() { send("WATCHDOG=1") }
    func status(_ text: String) { send("STATUS=\(text)") }

    /// `RELOADING=1` must carry the monotonic clock for `Type=notify-reload` (systemd 253+).
    func reloading() {
        send("RELOADING=1\nMONOTONIC_USEC=\(Self.monotonicMicroseconds())")
    }

    /// CLOCK_MONOTONIC in microseconds. `timespec` is read as two C longs (its layout on 64-bit
    /// Linux) because release builds, with the document and mail C libraries imported, resolve
    /// `timespec` through CDispatch and MemberImportVisibility then hides its members.
    static func monotonicMicroseconds() -> UInt64 {
        var fields: (Int, Int) = (0, 0)
        withUnsafeMutableBytes(of: &fields) { raw in
            guard raw.count >= MemoryLayout<timespec>.size, let base = raw.baseAddress else { return }
            _ = clock_gettime(CLOCK_MONOTONIC, base.assumingMemoryBound(to: timespec.self))
        }
        return UInt64(max(0, fields.0)) * 1_000_000 + UInt64(max(0, fields.1)) / 1_000
    }

    /// Sends one datagram; failures are ignored because notification is best-effort by design.
    @discardableResult
    func send(_ message: String) -> Bool {
        guard let socketPath else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(socketPath.utf8)
        if pathBytes.first == UInt8(ascii: "@") { pathBytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count + (pathBytes.first == 0 ? 0 : 1))
        let sent = message.withCString { text in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddrPointer in
                    sendto(fd, text, strlen(text), Int32(MSG_NOSIGNAL), sockaddrPointer, length)
                }
            }
        }
        return sent >= 0
    }
}
