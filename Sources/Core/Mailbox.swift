public import Foundation

/// How an IMAP connection is secured. Credentials are only ever sent over TLS, except with
/// `none`, which the configuration accepts only for a loopback host with `allow_insecure`.
public enum IMAPTLSMode: String, Sendable, Equatable, CaseIterable {
    /// TLS from the first byte (imaps, usually port 993).
    case implicit
    /// A plain connection upgraded with STARTTLS before login (usually port 143). A server that
    /// does not offer STARTTLS is an error.
    case starttls
    /// No TLS at all: loopback test servers only.
    case none
}

/// How an IMAP account proves who it is. Secrets are read again on every connect, so a rotated
/// password or a refreshed OAuth token is picked up without a reload.
public enum IMAPCredential: Sendable, Equatable {
    case password(SecretRef)
    /// `AUTHENTICATE XOAUTH2` with a bearer token.
    case xoauth2(SecretRef)
}

/// What happens to a message on the server once its intake is durable.
public enum IMAPProcessedAction: Sendable, Equatable {
    /// `UID STORE +FLAGS` with a system flag (`\Seen`) or a keyword (`$Processed`).
    case flag(String)
    /// `UID MOVE` to the folder (COPY + `\Deleted` + `UID EXPUNGE` when MOVE is missing).
    case move(String)
    /// `\Deleted` + `UID EXPUNGE`.
    case delete
}

/// One IMAP account of a source (`type: "imap"`); each folder is polled separately.
public struct IMAPSourceSettings: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var tls: IMAPTLSMode
    /// PEM file of CA certificates to trust instead of the system store (a private CA, a test server).
    public var caFile: String?
    public var allowInsecure: Bool
    public var username: String
    public var credential: IMAPCredential
    public var folders: [String]
    /// Time between syncs when IDLE is off or unsupported, and the longest IDLE may go without a sync.
    public var pollInterval: TimeInterval
    public var idle: Bool
    /// IDLE is ended and re-issued after this long (servers drop IDLE after 30 minutes).
    public var idleRestart: TimeInterval
    public var processed: IMAPProcessedAction
    /// Messages larger than this are left on the server unprocessed, with a recorded reason.
    public var maxMessageBytes: Int
    /// A folder that has not synced successfully for this long makes `/readyz` fail.
    public var unhealthyAfter: TimeInterval
    /// Timeout of every network operation (connect, TLS, each command).
    public var timeout: TimeInterval
    /// Messages larger than this (by RFC822.SIZE) are fetched alone, in pieces, straight into the
    /// blob store instead of whole into memory.
    public var streamThresholdBytes: Int

    public init(
        host: String, port: Int, tls: IMAPTLSMode, caFile: String? = nil, allowInsecure: Bool = false,
        username: String, credential: IMAPCredential, folders: [String] = ["INBOX"], pollInterval: TimeInterval = 60,
        idle: Bool = true, idleRestart: TimeInterval = 25 * 60, processed: IMAPProcessedAction = .flag("\\Seen"),
        maxMessageBytes: Int = 25 << 20, unhealthyAfter: TimeInterval = 900, timeout: TimeInterval = 30,
        streamThresholdBytes: Int = 4 << 20
    ) {
        self.streamThresholdBytes = streamThresholdBytes
        self.host = host
        self.port = port
        self.tls = tls
        self.caFile = caFile
        self.allowInsecure = allowInsecure
        self.username = username
        self.credential = credential
        self.folders = folders
        self.pollInterval = pollInterval
        self.idle = idle
        self.idleRestart = idleRestart
        self.processed = processed
        self.maxMessageBytes = maxMessageBytes
        self.unhealthyAfter = unhealthyAfter
        self.timeout = timeout
    }

    /// True for names that reach this machine only.
    public static func isLoopback(_ host: String) -> Bool {
        ListenAddress(host: host, port: 1).isLoopback
    }
}

/// Per-folder progress of an IMAP source, kept in the store.
public struct MailboxProgress: Sendable, Equatable, Codable {
    public var uidValidity: UInt32
    /// Every message with a UID up to this one has been taken (intake durable, action applied) or skipped.
    public var lastUID: UInt32
    /// Messages left on the server on purpose (too large), newest last, at most `skippedLimit`.
    public var skipped: [Skip]

    public struct Skip: Sendable, Equatable, Codable {
        public var uid: UInt32
        public var size: Int
        public var reason: String
        public var at: Date

        public init(uid: UInt32, size: Int, reason: String, at: Date) {
            self.uid = uid
            self.size = size
            self.reason = reason
            self.at = at
        }
    }

    public static let skippedLimit = 50

    public init(uidValidity: UInt32, lastUID: UInt32, skipped: [Skip] = []) {
        self.uidValidity = uidValidity
        self.lastUID = lastUID
        self.skipped = skipped
    }
}

/// What a mailbox poller needs from the store beyond recording intakes.
public protocol MailboxStore: Sendable {
    /// The stored progress marker of an inbound source (JSON text), nil when there is none yet.
    func sourceState(_ key: String) async throws -> String?
    func setSourceState(_ key: String, _ value: String) async throws
    /// Takes or renews the lease `name` for `owner` until now + `duration`. False while another
    /// owner holds an unexpired lease.
    func acquireLease(_ name: String, owner: String, duration: TimeInterval) async throws -> Bool
    /// Gives the lease up if `owner` holds it.
    func releaseLease(_ name: String, owner: String) async throws
    /// An intake of `organization` whose metadata `mail.fingerprint` is `fingerprint`
    /// (Message-ID + content hash): how a message is recognised after UIDVALIDITY changed.
    func intake(organization: String, mailFingerprint fingerprint: String) async throws -> Intake?
}
