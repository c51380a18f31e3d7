public import Core
public import Foundation
import NIOPosix
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An IMAP connection for async code. Each client has its own thread (a one-thread
/// `NIOThreadPool`): libetpan blocks on the network — for up to the session timeout per command
/// and for as long as IDLE lasts — so its calls never run on the cooperative pool or an event
/// loop, and the one thread also serialises all use of the non-thread-safe `mailimap*`.
///
/// `connect` opens a fresh session (the previous one is closed); the secret is read again each
/// time through `secret`, so a rotated password or refreshed OAuth token is used on reconnect.
public final class IMAPClient: @unchecked Sendable {
    // @unchecked Sendable: `session` is only touched inside closures run by `thread`, whose single
    // thread runs them one after another; `stopIdle` is atomic.
    private let thread: NIOThreadPool
    private var session: IMAPSession?
    private let stopIdle = Atomic<Bool>(false)
    public let settings: IMAPSourceSettings
    private let secret: @Sendable () throws -> String

    /// libetpan writes with plain `write()`: a server that hung up would raise SIGPIPE and kill the
    /// process. Ignored process-wide once, as servers do (NIO's own sockets never raise it).
    private static let ignoreSIGPIPE: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    public init(settings: IMAPSourceSettings, secret: @escaping @Sendable () throws -> String) {
        Self.ignoreSIGPIPE
        self.settings = settings
        self.secret = secret
        self.thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
    }

    /// Closes the connection (LOGOUT when possible) and stops the thread. The client cannot be used afterwards.
    public func shutdown() async {
        _ = try? await run { client in client.session?.logout(); client.session = nil }
        try? await thread.shutdownGracefully()
    }

    private func run<T: Sendable>(_ body: @escaping @Sendable (IMAPClient) throws -> T) async throws -> T {
        try await thread.runIfActive { [self] in try body(self) }
    }

    private func withSession<T: Sendable>(_ operation: String, _ body: @escaping @Sendable (IMAPSession) throws -> T) async throws -> T {
        try await run { client in
            guard let session = client.session, session.connected else {
                throw IMAPError(.connection, operation, "not connected")
            }
            return try body(session)
        }
    }

    // MARK: Connection

    /// Connects and logs in; capabilities are known afterwards.
    public func connect() async throws {
        let secretValue: String
        do {
            secretValue = try secret()
        } catch {
            throw IMAPError(.credential, "reading the secret", "\(error)")
        }
        let settings = self.settings
        try await run { client in
            client.session?.logout()
            client.session = nil
            let session = try IMAPSession(timeout: settings.timeout)
            try session.open(settings, secret: secretValue)
            client.session = session
        }
    }

    /// Drops the connection without a goodbye (after an error the stream is useless anyway).
    public func disconnect() async {
        _ = try? await run { client in client.session = nil }
    }

    public var isConnected: Bool {
        get async { (try? await run { $0.session?.connected ?? false }) ?? false }
    }

    public func has(capability: String) async throws -> Bool {
        try await withSession("CAPABILITY") { $0.has(capability) }
    }

    public func supportsIdle() async throws -> Bool {
        try await withSession("CAPABILITY") { $0.supportsIdle }
    }

    public func noop() async throws {
        try await withSession("NOOP") { try $0.noop() }
    }

    /// The selected folder's message count as the server last reported it (no command is sent).
    public func exists() async throws -> UInt32 {
        try await withSession("EXISTS") { $0.exists }
    }

    public func logout() async {
        _ = try? await run { client in client.session?.logout(); client.session = nil }
    }

    // MARK: Folders and messages

    public func select(_ folder: String) async throws -> SelectedFolder {
        try await withSession("SELECT") { try $0.select(folder) }
    }

    public func create(folder: String) async throws {
        try await withSession("CREATE") { try $0.create(folder) }
    }

    public func delete(folder: String) async throws {
        try await withSession("DELETE") { try $0.deleteFolder(folder) }
    }

    /// UIDs above `uid` in the selected folder with their sizes, ascending.
    public func messages(after uid: UInt32) async throws -> [MessageSize] {
        try await withSession("UID FETCH") { try $0.sizes(after: uid).map { MessageSize(uid: $0.uid, size: $0.size) } }
    }

    /// The raw message via `BODY.PEEK[]` (the message stays unread); nil when it was expunged.
    public func body(uid: UInt32) async throws -> Data? {
        try await bodies(uids: [uid])[uid]
    }

    /// Several raw messages in one `UID FETCH ... BODY.PEEK[]`, keyed by UID; expunged ones are missing.
    public func bodies(uids: [UInt32]) async throws -> [UInt32: Data] {
        try await withSession("UID FETCH") { try $0.bodies(uids: uids) }
    }

    /// One message fetched in `BODY.PEEK[]<offset.length>` pieces straight into `writer` (see
    /// ``IMAPSession``); the caller finishes or discards the writer.
    public func stream(uid: UInt32, chunkSize: Int, limit: Int, into writer: any BlobWriter) async throws -> StreamedFetch {
        try await withSession("UID FETCH") { try $0.stream(uid: uid, chunkSize: chunkSize, limit: limit, into: writer) }
    }

    public func addFlag(uid: UInt32, _ flag: String) async throws {
        try await withSession("UID STORE") { try $0.addFlag(uids: [uid], flag) }
    }

    public func hasFlag(uid: UInt32, _ flag: String) async throws -> Bool? {
        try await withSession("UID FETCH") { try $0.hasFlag(uid: uid, flag) }
    }

    public func move(uid: UInt32, to folder: String) async throws {
        try await withSession("UID MOVE") { try $0.move(uids: [uid], to: folder) }
    }

    public func delete(uid: UInt32) async throws {
        try await withSession("UID EXPUNGE") { try $0.delete(uids: [uid]) }
    }

    public func append(_ message: Data, to folder: String) async throws {
        try await withSession("APPEND") { try $0.append(message, to: folder) }
    }

    /// Applies `action` to the messages, in one command (two or three for delete / move without MOVE).
    public func apply(_ action: IMAPProcessedAction, uids: [UInt32]) async throws {
        guard !uids.isEmpty else { return }
        try await withSession("processed action") { session in
            switch action {
            case .flag(let flag): try session.addFlag(uids: uids, flag)
            case .move(let folder): try session.move(uids: uids, to: folder)
            case .delete: try session.delete(uids: uids)
            }
        }
    }

    // MARK: IDLE

    public func idleStart() async throws {
        stopIdle.store(false, ordering: .relaxed)
        try await withSession("IDLE") { try $0.idleStart() }
    }

    /// Waits in IDLE up to `seconds`; true when the server spoke. Task cancellation ends the wait
    /// within a quarter second.
    public func idleWait(seconds: TimeInterval) async throws -> Bool {
        try await withTaskCancellationHandler {
            try await withSession("IDLE") { [self] session in
                session.idleWait(seconds: seconds) { self.stopIdle.load(ordering: .relaxed) }
            }
        } onCancel: {
            self.stopIdle.store(true, ordering: .relaxed)
        }
    }

    public func idleDone() async throws {
        try await withSession("DONE") { try $0.idleDone() }
    }
}

/// How a streamed fetch ended.
public enum StreamedFetch: Sendable, Equatable {
    /// Every byte was written; `bytes` is the message's real size.
    case complete(bytes: Int)
    /// The message is no longer in the folder.
    case gone
    /// More than the limit arrived; the rest was not fetched.
    case tooLarge(bytes: Int)
}

/// A message's UID and RFC822.SIZE.
public struct MessageSize: Sendable, Equatable {
    public var uid: UInt32
    public var size: Int
}
