import CCurl
public import Core
public import Foundation
import NIOPosix
import Synchronization

/// The envelope of one message: MAIL FROM and RCPT TO addr-specs.
public struct SMTPEnvelope: Sendable, Equatable {
    public var from: String
    public var recipients: [String]

    public init(from: String, recipients: [String]) {
        self.from = from
        self.recipients = recipients
    }
}

/// The server took the message.
public struct SMTPReceipt: Sendable, Equatable {
    /// The server's answer to the end of DATA (`250 2.0.0 OK queued as …`).
    public var reply: String
    /// Connections opened for this message (0 when an open one was reused).
    public var newConnections: Int
}

/// Why a message was not accepted. `rejected` (5xx) is permanent; the others may succeed later.
public enum SMTPSendError: Error, CustomStringConvertible, Equatable {
    /// The server refused with a 5xx answer.
    case rejected(code: Int, reply: String)
    /// The server answered 4xx: try again later.
    case deferred(code: Int, reply: String)
    /// No usable answer (connect refused, TLS failure, timeout, connection dropped).
    /// `messageTransmitted`: every byte of the message had been handed to the connection, so the
    /// server may have accepted it before the failure.
    case connection(String, messageTransmitted: Bool)

    public var isPermanent: Bool {
        if case .rejected = self { return true }
        return false
    }

    /// True when the server cannot have accepted the message.
    public var certainlyNotDelivered: Bool {
        switch self {
        case .rejected, .deferred: return true
        case .connection(_, let transmitted): return !transmitted
        }
    }

    public var description: String {
        switch self {
        case .rejected(_, let reply): return "SMTP server refused the message: \(reply)"
        case .deferred(_, let reply): return "SMTP server deferred the message: \(reply)"
        case .connection(let why, let transmitted):
            return transmitted ? "SMTP connection failed after the message was sent (delivery unknown): \(why)" : "SMTP connection failed: \(why)"
        }
    }
}

/// Sends mail through libcurl's SMTP client. Each account keeps its open connections in libcurl
/// easy handles (one connection each) that are reused for the next message, so a burst of replies
/// pays for TCP, TLS and AUTH once per handle instead of once per message. libcurl blocks, so every
/// transfer runs on this sender's own `NIOThreadPool`, never on the cooperative pool; a handle is
/// used by one thread at a time (taken from the idle list, given back after the transfer).
public final class SMTPSender: Sendable {
    private let pool: NIOThreadPool
    /// Idle handles per account, most recently used last.
    private let idle = Mutex<[String: [SMTPConnection]]>([:])
    private let maxIdlePerAccount: Int
    private let stopped = Mutex(false)

    /// `threads`: transfers that may run at once (across accounts); also the most idle
    /// connections kept per account.
    public init(threads: Int = 4) {
        pool = NIOThreadPool(numberOfThreads: max(1, threads))
        pool.start()
        maxIdlePerAccount = max(1, threads)
    }

    deinit {
        if !stopped.withLock({ $0 }) { pool.shutdownGracefully { _ in } }
    }

    /// Stops the thread pool and closes idle connections.
    public func shutdown() async {
        let first = stopped.withLock { state in
            defer { state = true }
            return !state
        }
        guard first else { return }
        try? await pool.shutdownGracefully()
        idle.withLock { $0.removeAll() }
    }

    /// Connections are shared only between sends with the same server settings: a reload that
    /// changes an account starts with fresh handles.
    static func poolKey(_ account: SMTPAccountConfig) -> String {
        [account.id, account.host, "\(account.port)", account.tls.rawValue, account.caFile ?? "", account.username ?? "", account.auth.rawValue, account.messageIDDomain].joined(separator: "\u{1}")
    }

    /// Sends `message` (RFC 5322 bytes, CRLF) through `account`. `secret` is the password or OAuth
    /// token (nil without AUTH). Throws ``SMTPSendError``.
    public func send(_ message: Data, envelope: SMTPEnvelope, account: SMTPAccountConfig, secret: String?) async throws -> SMTPReceipt {
        let key = Self.poolKey(account)
        let connection = idle.withLock { $0[key]?.popLast() } ?? SMTPConnection()
        let request = SMTPConnection.Request(account: account, secret: secret, envelope: envelope, message: message)
        let outcome: Result<SMTPReceipt, SMTPSendError>
        do {
            outcome = try await pool.runIfActive { connection.perform(request) }
        } catch {
            throw SMTPSendError.connection("the SMTP sender is shut down", messageTransmitted: false)
        }
        if account.connectionReuse {
            idle.withLock { table in
                if table[key, default: []].count < maxIdlePerAccount { table[key, default: []].append(connection) }
            }
        }
        return try outcome.get()
    }
}

/// libcurl, opened on first use rather than linked (Sources/CCurl/shim.h says why): the first
/// message sent loads it, and a daemon that never sends mail never maps it.
/// `@unchecked Sendable`: its only state is the function table, written once by `load` before
/// the object exists and never changed or freed afterwards (the library stays loaded), and
/// libcurl's global functions called through it are thread-safe after `curl_global_init`.
public final class CurlLibrary: @unchecked Sendable {
    /// Sonames tried in order: the GnuTLS build the package is built against (Debian's
    /// libcurl3-gnutls), then the OpenSSL build (libcurl4), which has the same API and ABI.
    public static let sonames = ["libcurl-gnutls.so.4", "libcurl.so.4"]

    public struct LoadError: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// The process's libcurl, loaded and `curl_global_init`-ed once (Swift runs a global's
    /// initialiser once, thread-safely, which is what `curl_global_init` asks for).
    public static let shared: Result<CurlLibrary, LoadError> = load(sonames)

    /// The function table every `ccurl_*` wrapper takes.
    let api: UnsafePointer<ccurl_api>
    /// `curl_version()`: "libcurl/7.88.1 GnuTLS/3.7.9 …".
    public let version: String

    private init(api: UnsafePointer<ccurl_api>) {
        self.api = api
        self.version = ccurl_version(api).map { String(cString: $0) } ?? "libcurl"
    }

    /// Opens the first of `names` that loads. Each call that succeeds keeps its table for good,
    /// so this is for `shared` and for tests of the failure path.
    public static func load(_ names: [String]) -> Result<CurlLibrary, LoadError> {
        let table = UnsafeMutablePointer<ccurl_api>.allocate(capacity: 1)
        table.initialize(to: ccurl_api())
        var error = [CChar](repeating: 0, count: 512)
        let status = withCStrings(names) { pointers in
            error.withUnsafeMutableBufferPointer { buffer in
                ccurl_load(pointers.baseAddress, Int32(pointers.count), table, buffer.baseAddress, buffer.count)
            }
        }
        guard status == 0 else {
            table.deallocate()
            let reason = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return .failure(LoadError(description: "libcurl could not be loaded (tried \(names.joined(separator: ", "))): \(reason); install Debian's libcurl3-gnutls"))
        }
        let initialized = ccurl_global_init(table, CCURL_GLOBAL_DEFAULT)
        guard initialized == CURLE_OK else {
            let reason = ccurl_easy_strerror(table, initialized).map { String(cString: $0) } ?? "error \(initialized.rawValue)"
            table.deallocate()
            return .failure(LoadError(description: "curl_global_init failed: \(reason)"))
        }
        return .success(CurlLibrary(api: table))
    }

    private static func withCStrings<T>(_ strings: [String], _ body: (UnsafeBufferPointer<UnsafePointer<CChar>?>) -> T) -> T {
        let copies = strings.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        return copies.map { UnsafePointer($0) }.withUnsafeBufferPointer(body)
    }

    func strerror(_ code: CURLcode) -> String { ccurl_easy_strerror(api, code).map { String(cString: $0) } ?? "libcurl error \(code.rawValue)" }
}

/// One libcurl easy handle and the connection libcurl keeps inside it.
/// `@unchecked Sendable`: the handle is only touched by the thread running `perform`, and a
/// connection is in at most one place at a time (the idle list under its mutex, or one transfer).
final class SMTPConnection: @unchecked Sendable {
    struct Request: Sendable {
        var account: SMTPAccountConfig
        var secret: String?
        var envelope: SMTPEnvelope
        var message: Data
    }

    /// Created by the first transfer, so that making a connection object loads nothing.
    private var handle: UnsafeMutableRawPointer?
    private let errorBuffer: UnsafeMutablePointer<CChar>

    init() {
        errorBuffer = .allocate(capacity: Int(CCURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CCURL_ERROR_SIZE))
    }

    deinit {
        // A handle exists only if libcurl loaded.
        if let handle, case .success(let curl) = CurlLibrary.shared { ccurl_easy_cleanup(curl.api, handle) }
        errorBuffer.deallocate()
    }

    /// Runs one SMTP transaction (blocking).
    func perform(_ request: Request) -> Result<SMTPReceipt, SMTPSendError> {
        let curl: CurlLibrary
        switch CurlLibrary.shared {
        case .success(let loaded): curl = loaded
        case .failure(let error): return .failure(.connection(error.description, messageTransmitted: false))
        }
        let api = curl.api
        if handle == nil { handle = ccurl_easy_init(api) }
        guard let handle else { return .failure(.connection("libcurl could not create a handle", messageTransmitted: false)) }
        let account = request.account
        let upload = UploadSource(request.message)
        let transcript = ServerTranscript()
        var recipients: UnsafeMutablePointer<curl_slist>?
        for recipient in request.envelope.recipients {
            recipients = ccurl_slist_append(api, recipients, "<\(recipient)>")
        }
        defer { ccurl_slist_free_all(api, recipients) }
        errorBuffer[0] = 0

        let scheme = account.tls == .implicit ? "smtps" : "smtp"
        let host = account.host.contains(":") ? "[\(account.host)]" : account.host
        var status = CURLE_OK
        func set(_ result: CURLcode) { if status == CURLE_OK { status = result } }
        set(ccurl_setopt_string(api, handle, CCURL_URL, "\(scheme)://\(host):\(account.port)/\(account.messageIDDomain)"))
        set(ccurl_setopt_string(api, handle, CCURL_PROTOCOLS_STR, "smtp,smtps"))
        set(ccurl_setopt_long(api, handle, CCURL_USE_SSL, account.tls == .none ? CCURL_USESSL_NONE : CCURL_USESSL_ALL))
        // Handles are kept per account settings (see `SMTPSender.poolKey`), so a CA file set once stays right.
        if let caFile = account.caFile { set(ccurl_setopt_string(api, handle, CCURL_CAINFO, caFile)) }
        set(ccurl_setopt_long(api, handle, CCURL_NOSIGNAL, 1))
        set(ccurl_setopt_long(api, handle, CCURL_CONNECTTIMEOUT_MS, Int(account.connectTimeout * 1000)))
        set(ccurl_setopt_long(api, handle, CCURL_TIMEOUT_MS, Int(account.timeout * 1000)))
        set(ccurl_setopt_long(api, handle, CCURL_FORBID_REUSE, account.connectionReuse ? 0 : 1))
        set(ccurl_setopt_pointer(api, handle, CCURL_ERRORBUFFER, errorBuffer))
        if let username = account.username {
            set(ccurl_setopt_string(api, handle, CCURL_USERNAME, username))
            switch account.auth {
            case .plain, .login:
                set(ccurl_setopt_string(api, handle, CCURL_PASSWORD, request.secret))
                set(ccurl_setopt_string(api, handle, CCURL_LOGIN_OPTIONS, account.auth == .plain ? "AUTH=PLAIN" : "AUTH=LOGIN"))
                set(ccurl_setopt_string(api, handle, CCURL_XOAUTH2_BEARER, nil))
            case .xoauth2:
                set(ccurl_setopt_string(api, handle, CCURL_PASSWORD, nil))
                set(ccurl_setopt_string(api, handle, CCURL_LOGIN_OPTIONS, "AUTH=XOAUTH2"))
                set(ccurl_setopt_string(api, handle, CCURL_XOAUTH2_BEARER, request.secret))
            }
        } else {
            set(ccurl_setopt_string(api, handle, CCURL_USERNAME, nil))
            set(ccurl_setopt_string(api, handle, CCURL_PASSWORD, nil))
            set(ccurl_setopt_string(api, handle, CCURL_LOGIN_OPTIONS, nil))
            set(ccurl_setopt_string(api, handle, CCURL_XOAUTH2_BEARER, nil))
        }
        set(ccurl_setopt_string(api, handle, CCURL_MAIL_FROM, "<\(request.envelope.from)>"))
        set(ccurl_setopt_slist(api, handle, CCURL_MAIL_RCPT, recipients))
        set(ccurl_setopt_long(api, handle, CCURL_UPLOAD, 1))
        set(ccurl_setopt_io_callback(api, handle, CCURL_READFUNCTION, { buffer, size, count, userdata in
            guard let buffer, let userdata else { return CCURL_READFUNC_ABORT }
            return Unmanaged<UploadSource>.fromOpaque(userdata).takeUnretainedValue().read(into: buffer, capacity: size * count)
        }))
        // The server's answers are read through libcurl's debug stream, the only place libcurl
        // exposes the reply text (`550 5.1.1 <x>: recipient rejected`), not just its code.
        set(ccurl_setopt_long(api, handle, CCURL_VERBOSE, 1))
        set(ccurl_setopt_debug_callback(api, handle, { _, type, data, size, userdata in
            guard type == CCURL_DEBUG_HEADER_IN, let data, let userdata else { return 0 }
            let text = String(decoding: UnsafeRawBufferPointer(start: data, count: size), as: UTF8.self)
            Unmanaged<ServerTranscript>.fromOpaque(userdata).takeUnretainedValue().record(text)
            return 0
        }))

        let uploadPointer = Unmanaged.passRetained(upload)
        let transcriptPointer = Unmanaged.passRetained(transcript)
        defer {
            uploadPointer.release()
            transcriptPointer.release()
        }
        set(ccurl_setopt_pointer(api, handle, CCURL_READDATA, uploadPointer.toOpaque()))
        set(ccurl_setopt_debug_data(api, handle, transcriptPointer.toOpaque()))
        guard status == CURLE_OK else {
            return .failure(.connection("libcurl rejected an option: \(curl.strerror(status))", messageTransmitted: false))
        }

        let result = ccurl_easy_perform(api, handle)
        // No dangling pointers into this call's buffers stay on a handle that outlives it.
        _ = ccurl_setopt_pointer(api, handle, CCURL_READDATA, nil)
        _ = ccurl_setopt_debug_data(api, handle, nil)
        _ = ccurl_setopt_slist(api, handle, CCURL_MAIL_RCPT, nil)
        var code = 0
        _ = ccurl_getinfo_long(api, handle, CCURL_INFO_RESPONSE_CODE, &code)
        var connects = 0
        _ = ccurl_getinfo_long(api, handle, CCURL_INFO_NUM_CONNECTS, &connects)
        // After a refusal libcurl still says QUIT; the reply that matters is the one with the code.
        let reply = transcript.lastReply(withCode: code) ?? transcript.lastReply ?? (code > 0 ? "\(code)" : "")
        if result == CURLE_OK {
            return .success(SMTPReceipt(reply: reply, newConnections: connects))
        }
        let detail = errorBuffer[0] != 0 ? String(cString: errorBuffer) : curl.strerror(result)
        switch code {
        case 500...599: return .failure(.rejected(code: code, reply: reply.isEmpty ? detail : reply))
        case 400...499: return .failure(.deferred(code: code, reply: reply.isEmpty ? detail : reply))
        default: return .failure(.connection(detail, messageTransmitted: upload.finished))
        }
    }
}

/// The message bytes libcurl reads during DATA. `finished` turns true when libcurl has taken the
/// last byte: from then on a failure leaves delivery unknown.
/// `@unchecked Sendable` is not needed: it lives on the transfer's thread only.
final class UploadSource {
    private let bytes: [UInt8]
    private var offset = 0
    private(set) var finished = false

    init(_ data: Data) { bytes = Array(data) }

    func read(into buffer: UnsafeMutablePointer<CChar>, capacity: Int) -> Int {
        let count = min(capacity, bytes.count - offset)
        if count <= 0 {
            finished = true
            return 0
        }
        bytes.withUnsafeBufferPointer { source in
            guard let base = source.baseAddress else { return }
            UnsafeMutableRawPointer(buffer).copyMemory(from: base + offset, byteCount: count)
        }
        offset += count
        return count
    }
}

/// Collects the server's reply lines; `lastReply` is the last complete (possibly multi-line) reply.
final class ServerTranscript {
    private var pending: [String] = []
    private var replies: [String] = []
    var lastReply: String? { replies.last }

    /// The last complete reply starting with `code` (`550 5.1.1 …`).
    func lastReply(withCode code: Int) -> String? {
        guard code > 0 else { return nil }
        return replies.last { $0.hasPrefix("\(code)") }
    }

    func record(_ chunk: String) {
        // `\r\n` is one Character in Swift: split on isNewline, not on "\r" / "\n".
        for line in chunk.split(whereSeparator: \.isNewline) {
            let text = String(line)
            pending.append(text)
            let characters = Array(text.prefix(4))
            // `250-…` continues a reply, `250 …` (or a bare code) ends it.
            if characters.count >= 3, characters[0...2].allSatisfy(\.isNumber), characters.count == 3 || characters[3] == " " {
                replies.append(pending.joined(separator: "\n"))
                if replies.count > 16 { replies.removeFirst() }
                pending.removeAll()
            }
        }
    }
}
