import CEtpan
public import Core
public import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A failed IMAP operation: what was being done, libetpan's code and the server's words.
/// Never contains a password or token.
public struct IMAPError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable {
        /// TCP connect, TLS handshake or the network went away (retry with backoff).
        case connection
        /// The certificate is not trusted, or the server offers no STARTTLS.
        case tls
        /// The configuration would send credentials in clear text.
        case insecure
        /// The server refused the credentials.
        case authentication
        /// The server answered NO/BAD or something unparseable.
        case command
        /// A secret could not be read.
        case credential
    }

    public var kind: Kind
    public var operation: String
    public var detail: String

    public init(_ kind: Kind, _ operation: String, _ detail: String) {
        self.kind = kind
        self.operation = operation
        self.detail = detail
    }

    public var description: String { "IMAP \(operation) failed (\(kind.rawValue)): \(detail)" }
}

/// What SELECT reported.
public struct SelectedFolder: Sendable, Equatable {
    public var uidValidity: UInt32
    public var uidNext: UInt32
}

/// One IMAP connection: owns the `mailimap*` and frees it in `deinit`. Every method blocks on the
/// network (bounded by the session timeout) and must run on the connection's own thread — see
/// ``IMAPClient``, the only user; the type is not thread-safe.
final class IMAPSession {
    private let handle: UnsafeMutablePointer<mailimap>
    private let timeout: TimeInterval
    private(set) var connected = false
    /// Between IDLE and DONE the server accepts nothing but DONE.
    private var idling = false

    init(timeout: TimeInterval) throws {
        guard let handle = mailimap_new(0, nil) else { throw IMAPError(.connection, "setup", "out of memory") }
        self.handle = handle
        self.timeout = timeout
        mailimap_set_timeout(handle, time_t(max(1, timeout.rounded(.up))))
    }

    deinit {
        mailimap_free(handle)
    }

    // MARK: Connection

    /// Connects, secures the connection as `settings.tls` says, verifies the certificate and
    /// logs in. The secret is passed in (read fresh for every connect by the caller).
    func open(_ settings: IMAPSourceSettings, secret: String) throws {
        let host = settings.host
        let port = UInt16(clamping: settings.port)
        switch settings.tls {
        case .implicit:
            try check(cetpan_ssl_connect(handle, host, port), "connect", kind: .connection)
            connected = true
            try verifyPeer(settings)
        case .starttls:
            try check(mailimap_socket_connect(handle, host, port), "connect", kind: .connection)
            connected = true
            try check(cetpan_refresh_capabilities(handle), "CAPABILITY")
            guard mailimap_has_extension(handle, "STARTTLS") != 0 else {
                throw IMAPError(.tls, "STARTTLS", "\(host):\(settings.port) does not offer STARTTLS; refusing to log in without TLS")
            }
            try check(cetpan_starttls(handle, host), "STARTTLS", kind: .tls)
            try verifyPeer(settings)
        case .none:
            guard settings.allowInsecure, IMAPSourceSettings.isLoopback(host) else {
                throw IMAPError(.insecure, "connect", "tls \"none\" is only allowed with allow_insecure on a loopback host")
            }
            try check(mailimap_socket_connect(handle, host, port), "connect", kind: .connection)
            connected = true
        }
        try check(cetpan_refresh_capabilities(handle), "CAPABILITY")
        switch settings.credential {
        case .password:
            if mailimap_has_extension(handle, "LOGINDISABLED") != 0 {
                throw IMAPError(.authentication, "LOGIN", "the server disabled LOGIN on this connection")
            }
            try check(mailimap_login(handle, settings.username, secret), "LOGIN", kind: .authentication)
        case .xoauth2:
            try check(mailimap_oauth2_authenticate(handle, settings.username, secret), "AUTHENTICATE XOAUTH2", kind: .authentication)
        }
        // Servers announce more after login (MOVE, UIDPLUS, IDLE).
        try check(cetpan_refresh_capabilities(handle), "CAPABILITY")
    }

    private func verifyPeer(_ settings: IMAPSourceSettings) throws {
        var message = [CChar](repeating: 0, count: 512)
        let result = cetpan_verify_peer(handle, settings.host, settings.caFile, &message, message.count)
        if result != 0 {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw IMAPError(.tls, "certificate check", "\(settings.host): \(text)")
        }
    }

    func has(_ capability: String) -> Bool {
        mailimap_has_extension(handle, capability) != 0
    }

    var supportsIdle: Bool { mailimap_has_idle(handle) != 0 }

    func logout() {
        guard connected else { return }
        if idling {
            idling = false
            _ = mailimap_idle_done(handle)
        }
        connected = false
        _ = mailimap_logout(handle)
    }

    func noop() throws {
        try check(mailimap_noop(handle), "NOOP")
    }

    /// The selected folder's message count as last reported by the server.
    var exists: UInt32 { cetpan_exists(handle) }

    // MARK: Folders

    func select(_ folder: String) throws -> SelectedFolder {
        try check(mailimap_select(handle, MailboxName.encode(folder)), "SELECT")
        let validity = cetpan_uidvalidity(handle)
        guard validity != 0 else { throw IMAPError(.command, "SELECT", "the server reported no UIDVALIDITY for the folder") }
        return SelectedFolder(uidValidity: validity, uidNext: cetpan_uidnext(handle))
    }

    func create(_ folder: String) throws {
        try check(mailimap_create(handle, MailboxName.encode(folder)), "CREATE")
    }

    func deleteFolder(_ folder: String) throws {
        try check(mailimap_delete(handle, MailboxName.encode(folder)), "DELETE")
    }

    // MARK: Messages

    /// UIDs above `after` with their RFC822.SIZE, ascending.
    func sizes(after uid: UInt32) throws -> [(uid: UInt32, size: Int)] {
        guard uid < UInt32.max else { return [] }
        var uids: UnsafeMutablePointer<UInt32>?
        var sizes: UnsafeMutablePointer<UInt32>?
        var count = 0
        try check(cetpan_fetch_sizes(handle, uid + 1, &uids, &sizes, &count), "UID FETCH (RFC822.SIZE)")
        defer {
            free(uids)
            free(sizes)
        }
        guard let uids, let sizes else { return [] }
        return (0..<count).map { (uids[$0], Int(sizes[$0])) }.sorted { $0.uid < $1.uid }
    }

    /// Whole messages by `BODY.PEEK[]` (never sets `\Seen`), keyed by UID; expunged ones are missing.
    func bodies(uids: [UInt32]) throws -> [UInt32: Data] {
        guard !uids.isEmpty else { return [:] }
        var foundUIDs = [UInt32](repeating: 0, count: uids.count)
        var bodies = [UnsafeMutablePointer<CChar>?](repeating: nil, count: uids.count)
        var lengths = [Int](repeating: 0, count: uids.count)
        var found = 0
        let code = cetpan_fetch_bodies(handle, uids, uids.count, &foundUIDs, &bodies, &lengths, &found)
        defer { for body in bodies { free(body) } }
        try check(code, "UID FETCH (BODY.PEEK[])")
        var result: [UInt32: Data] = [:]
        for index in 0..<min(found, uids.count) {
            guard let body = bodies[index] else { continue }
            result[foundUIDs[index]] = Data(bytes: body, count: lengths[index])
        }
        return result
    }

    func addFlag(uids: [UInt32], _ flag: String) throws {
        guard !uids.isEmpty else { return }
        try check(cetpan_add_flag(handle, uids, uids.count, flag), "UID STORE +FLAGS")
    }

    /// Whether the message carries `flag`; nil when it is gone.
    func hasFlag(uid: UInt32, _ flag: String) throws -> Bool? {
        var has: Int32 = 0
        var found: Int32 = 0
        try check(cetpan_has_flag(handle, uid, flag, &has, &found), "UID FETCH (FLAGS)")
        return found == 0 ? nil : has != 0
    }

    /// UID MOVE, or COPY + `\Deleted` + expunge on servers without MOVE.
    func move(uids: [UInt32], to folder: String) throws {
        guard !uids.isEmpty else { return }
        if has("MOVE") {
            try check(cetpan_uid_move(handle, uids, uids.count, MailboxName.encode(folder)), "UID MOVE")
        } else {
            try check(cetpan_uid_copy(handle, uids, uids.count, MailboxName.encode(folder)), "UID COPY")
            try delete(uids: uids)
        }
    }

    /// `\Deleted`, then UID EXPUNGE of these messages alone (UIDPLUS) or EXPUNGE.
    func delete(uids: [UInt32]) throws {
        guard !uids.isEmpty else { return }
        try addFlag(uids: uids, "\\Deleted")
        if has("UIDPLUS") {
            try check(cetpan_uid_expunge(handle, uids, uids.count), "UID EXPUNGE")
        } else {
            try check(mailimap_expunge(handle), "EXPUNGE")
        }
    }

    /// One message by `BODY.PEEK[]<offset.length>` pieces of `chunkSize` bytes, each handed to
    /// `writer` as it arrives, so the message is never whole in memory. The message ends at the
    /// first short piece — not at the RFC822.SIZE the server reported, which servers get wrong
    /// (CRLF conversion, a message rewritten meanwhile). Stops early with `.tooLarge` once more
    /// than `limit` bytes arrived.
    func stream(uid: UInt32, chunkSize: Int, limit: Int, into writer: any BlobWriter) throws -> StreamedFetch {
        let chunk = UInt32(clamping: max(1, chunkSize))
        var offset = 0
        while true {
            var body: UnsafeMutablePointer<CChar>?
            var length = 0
            var found: Int32 = 0
            let code = cetpan_fetch_partial(handle, uid, UInt32(clamping: offset), chunk, &body, &length, &found)
            defer { free(body) }
            try check(code, "UID FETCH (BODY.PEEK[]<\(offset).\(chunk)>)")
            // Expunged before or while it was read: whatever arrived is not the message.
            guard found != 0 else { return .gone }
            if let body, length > 0 {
                try writer.write(Data(bytes: body, count: length))
            }
            offset += length
            if length < Int(chunk) { return .complete(bytes: offset) }
            if offset > limit { return .tooLarge(bytes: offset) }
        }
    }

    func append(_ message: Data, to folder: String) throws {
        let result = message.withUnsafeBytes { raw -> Int32 in
            cetpan_append(handle, MailboxName.encode(folder), raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count)
        }
        try check(result, "APPEND")
    }

    // MARK: IDLE

    func idleStart() throws {
        try check(mailimap_idle(handle), "IDLE")
        idling = true
    }

    /// Waits until the server says something during IDLE, `seconds` pass, or `stop` turns true.
    /// True when the server spoke (new mail, expunge, BYE or a dropped connection).
    func idleWait(seconds: TimeInterval, stop: () -> Bool) -> Bool {
        if cetpan_idle_buffered(handle) != 0 { return true }
        let fd = cetpan_idle_fd(handle)
        guard fd >= 0 else { return true }
        let deadline = Date().addingTimeInterval(seconds)
        while !stop() {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return false }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let slice = Int32(min(left, 0.25) * 1000) + 1
            let ready = poll(&descriptor, 1, slice)
            if ready > 0 { return true }
            if ready < 0 && errno != EINTR { return true }
        }
        return false
    }

    func idleDone() throws {
        idling = false
        try check(mailimap_idle_done(handle), "IDLE DONE")
    }

    // MARK: Errors

    private func check(_ code: Int32, _ operation: String, kind: IMAPError.Kind = .command) throws {
        let value = Int(code)
        if value == MAILIMAP_NO_ERROR || value == MAILIMAP_NO_ERROR_AUTHENTICATED || value == MAILIMAP_NO_ERROR_NON_AUTHENTICATED {
            return
        }
        let response = String(cString: cetpan_response(handle))
        let reason = Self.describe(value)
        let detail = response.isEmpty ? reason : "\(reason): \(response)"
        // A broken stream means the connection is gone whatever the command was.
        if value == MAILIMAP_ERROR_STREAM || value == MAILIMAP_ERROR_CONNECTION_REFUSED {
            connected = false
            throw IMAPError(.connection, operation, detail)
        }
        if value == MAILIMAP_ERROR_SSL { throw IMAPError(.tls, operation, detail) }
        throw IMAPError(kind, operation, detail)
    }

    private static func describe(_ code: Int) -> String {
        switch code {
        case MAILIMAP_ERROR_STREAM: return "connection lost or timed out"
        case MAILIMAP_ERROR_CONNECTION_REFUSED: return "connection refused or host unreachable"
        case MAILIMAP_ERROR_SSL: return "TLS handshake failed"
        case MAILIMAP_ERROR_PARSE: return "unparseable server response"
        case MAILIMAP_ERROR_LOGIN, MAILIMAP_ERROR_SASL: return "credentials refused"
        case MAILIMAP_ERROR_STARTTLS: return "STARTTLS refused"
        case MAILIMAP_ERROR_BAD_STATE: return "command not allowed in this state"
        default: return "libetpan error \(code)"
        }
    }
}
