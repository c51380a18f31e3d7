public import Foundation

extension JobKind {
    /// Send one automatic reply: payload `{"intake": ID, "reply": ReplyRequest}`.
    public static let sendReply = "reply.send"
}

extension CrashPoint {
    /// After the SMTP server accepted a reply, before the `sent` state is recorded.
    public static let afterReplySend = "after-reply-send"
}

/// Where one automatic reply stands. `sending` is written (with the Message-ID) before the
/// message goes to the server; a `sending` record found by a later attempt means that attempt's
/// process died or lost track between handing the message over and recording the answer.
public enum ReplyState: String, Sendable, Codable, CaseIterable {
    /// An attempt is in flight, or one ended without knowing whether the server took the message.
    case sending
    /// The server accepted the message (`serverReply` holds its answer).
    case sent
    /// Not sent on purpose (loop / abuse prevention); `reason` says why.
    case suppressed
    /// The server refused it permanently (5xx) or it could not be composed; `reason` says why.
    case failed
    /// The last attempt certainly did not deliver (4xx, connection refused, message not fully
    /// transmitted); the next attempt may send it again with the same Message-ID.
    case deferred
    /// A `sending` record was found by a later attempt: the earlier one may or may not have
    /// delivered. Not sent again; an operator decides.
    case unconfirmed
}

/// The record of one automatic reply (table `replies`), keyed by intake + template.
public struct ReplyRecord: Sendable, Codable, Equatable {
    /// `<intake id>:<template>`: one reply per template per intake, however often a job runs.
    public var id: String
    public var intakeID: String
    public var organization: String
    public var template: String
    public var account: String
    /// The addr-spec the reply goes to (lower case), "" when there was none.
    public var recipient: String
    /// Without angle brackets.
    public var messageID: String
    public var state: ReplyState
    /// Why it was suppressed or failed, or the last transient error.
    public var reason: String?
    /// The SMTP server's last answer (`250 2.0.0 OK queued as …`, `550 5.1.1 …`).
    public var serverReply: String?
    /// Attempts that handed the message to the server (or tried to).
    public var attempts: Int
    public var createdAt: Date
    public var updatedAt: Date
    public var sentAt: Date?

    public init(
        id: String, intakeID: String, organization: String, template: String, account: String, recipient: String,
        messageID: String, state: ReplyState, reason: String? = nil, serverReply: String? = nil, attempts: Int = 0,
        createdAt: Date, updatedAt: Date, sentAt: Date? = nil
    ) {
        self.id = id
        self.intakeID = intakeID
        self.organization = organization
        self.template = template
        self.account = account
        self.recipient = recipient
        self.messageID = messageID
        self.state = state
        self.reason = reason
        self.serverReply = serverReply
        self.attempts = attempts
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.sentAt = sentAt
    }

    /// The record key for a reply of `intakeID` made from `template`.
    public static func key(intakeID: String, template: String) -> String { "\(intakeID):\(template)" }
}

/// A change of a reply record's state, applied only when the record is in one of the expected states.
public struct ReplyTransition: Sendable, Equatable {
    public var to: ReplyState
    public var reason: String?
    public var serverReply: String?
    /// Count this as an attempt that handed the message to the server.
    public var countsAttempt: Bool

    public init(to: ReplyState, reason: String? = nil, serverReply: String? = nil, countsAttempt: Bool = false) {
        self.to = to
        self.reason = reason
        self.serverReply = serverReply
        self.countsAttempt = countsAttempt
    }
}

/// The store operations automatic replies need: record before sending, compare-and-set state
/// changes, and the per-recipient count the rate limit reads.
public protocol ReplyStore: Sendable {
    func reply(id: String) async throws -> ReplyRecord?
    /// Inserts `record`; false (and nothing written) when a record with its id exists.
    func insertReply(_ record: ReplyRecord) async throws -> Bool
    /// Applies `transition` if the record is in one of `from`; returns the record after the
    /// change, or nil when it was not in one of those states (another attempt got there first).
    func updateReply(id: String, from: Set<ReplyState>, _ transition: ReplyTransition) async throws -> ReplyRecord?
    /// Replies to `recipient` (case-insensitive) that were sent or may have been (sent, sending,
    /// unconfirmed) and created at or after `since`.
    func countReplies(recipient: String, since: Date) async throws -> Int
    /// The reply records of an intake, oldest first.
    func replies(intakeID: String) async throws -> [ReplyRecord]
    /// The newest reply records, newest first (operators, tests).
    func recentReplies(limit: Int) async throws -> [ReplyRecord]
}
